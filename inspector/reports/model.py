"""A report is a title, some facts about its source, and named sections of rows.

Each section's columns are data, written once: a tuple of :class:`Column`, from which the
SQL select list (:func:`select_list`), the header of the text table, the CSV header and the
JSON keys (:attr:`Section.columns`) and every row (:func:`shape`) are made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    """One column of a section: its name (header, CSV and JSON key) and where its value comes from.

    ``sql``: an SQL expression the section's query selects ``AS name`` (see :func:`select_list`).
    ``value``: computes the cell from the source row (query row plus anything the builder added);
    without it the cell is the source row's ``name``.
    """

    name: str
    sql: str | None = None
    value: Callable[[Mapping[str, Any]], Any] | None = None


def column_names(columns: Iterable[Column]) -> tuple[str, ...]:
    return tuple(column.name for column in columns)


def select_list(columns: Iterable[Column]) -> str:
    """``expr AS name, ...`` for the columns that come from SQL (a bare name when they are the same)."""
    return ", ".join(
        column.sql if column.sql == column.name else f"{column.sql} AS {column.name}"
        for column in columns
        if column.sql is not None
    )


def shape(columns: Sequence[Column], source: Mapping[str, Any]) -> dict[str, Any]:
    """One report row: each column's cell from the source row."""
    return {
        column.name: column.value(source) if column.value is not None else source.get(column.name)
        for column in columns
    }


@dataclasses.dataclass(frozen=True, slots=True)
class Section:
    name: str  # file-name safe; CSV files are named after it
    title: str
    columns: tuple[str, ...]
    rows: Sequence[Mapping[str, Any]]
    #: One paragraph shown above the table in Markdown.
    description: str = ""

    @classmethod
    def of(
        cls,
        name: str,
        title: str,
        columns: Sequence[Column],
        rows: Sequence[Mapping[str, Any]],
        description: str = "",
    ) -> Section:
        """A section whose header is the names of ``columns`` (rows made with :func:`shape`)."""
        return cls(name, title, column_names(columns), rows, description)


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
