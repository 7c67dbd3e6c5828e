"""Write a :class:`Report` as Markdown, CSV (one file per section) or JSON. Output is deterministic."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inspector.reports.model import Report, Section

FORMATS = ("markdown", "csv", "json")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(item) for item in value)
    return str(value)


def _md_cell(value: Any) -> str:
    return _cell(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report) -> str:
    lines = [f"# {report.title}", ""]
    for key, value in report.facts.items():
        lines.append(f"- **{key}**: {_md_cell(value)}")
    for section in report.sections:
        lines += ["", f"## {section.title}", ""]
        if section.description:
            lines += [section.description, ""]
        if not section.rows:
            lines.append("_None._")
            continue
        lines.append("| " + " | ".join(section.columns) + " |")
        lines.append("|" + "|".join("---" for _ in section.columns) + "|")
        for row in section.rows:
            lines.append(
                "| " + " | ".join(_md_cell(row.get(column)) for column in section.columns) + " |"
            )
    return "\n".join(lines) + "\n"


def section_csv(section: Section) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(section.columns)
    for row in section.rows:
        writer.writerow([_cell(row.get(column)) for column in section.columns])
    return buffer.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def to_json(report: Report) -> str:
    """One JSON document; each row on its own line (readable diffs, and the fast C encoder for rows)."""
    dump = json.dumps
    parts = [
        "{\n",
        f'  "title": {dump(report.title, ensure_ascii=False)},\n',
        f'  "facts": {dump(dict(report.facts), ensure_ascii=False, sort_keys=True)},\n',
        '  "sections": {',
    ]
    for index, section in enumerate(report.sections):
        rows = ",\n".join(
            "        "
            + dump(
                {column: _json_value(row.get(column)) for column in section.columns},
                ensure_ascii=False,
            )
            for row in section.rows
        )
        parts.append(
            ("," if index else "")
            + f"\n    {dump(section.name)}: {{\n"
            + f'      "title": {dump(section.title, ensure_ascii=False)},\n'
            + f'      "columns": {dump(list(section.columns))},\n'
            + ('      "rows": [\n' + rows + "\n      ]\n" if rows else '      "rows": []\n')
            + "    }"
        )
    parts.append("\n  }\n}\n")
    return "".join(parts)


def write_report(
    report: Report, fmt: str, *, out: Path | None, section: str | None = None
) -> Mapping[str, str] | str:
    """Render ``report``; return the text (stdout) or write files and return {path: what}.

    Markdown and JSON go to ``out`` (a file) or stdout. CSV writes one file per
    section into the directory ``out``, or prints the one ``section`` asked for.
    """
    if section is not None:
        report = Report(report.title, report.facts, (report.section(section),))
    if fmt == "csv":
        if out is None:
            if len(report.sections) != 1:
                names = ", ".join(s.name for s in report.sections)
                raise ValueError(
                    f"CSV has one table per file: give --out DIR, or --section one of: {names}"
                )
            return section_csv(report.sections[0])
        out.mkdir(parents=True, exist_ok=True)
        written = {}
        for item in report.sections:
            path = out / f"{item.name}.csv"
            path.write_text(section_csv(item), encoding="utf-8")
            written[str(path)] = item.title
        return written
    text = to_markdown(report) if fmt == "markdown" else to_json(report)
    if out is None:
        return text
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return {str(out): report.title}
