"""A report is a title, some facts about its source, and named sections of rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Section:
    name: str  # file-name safe; CSV files are named after it
    title: str
    columns: tuple[str, ...]
    rows: Sequence[Mapping[str, Any]]
    #: One paragraph shown above the table in Markdown.
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    title: str
    #: Facts about the source: database, schema version, as-of time, runs covered.
    facts: Mapping[str, Any]
    sections: tuple[Section, ...]

    def section(self, name: str) -> Section:
        for section in self.sections:
            if section.name == name:
                return section
        raise KeyError(name)
