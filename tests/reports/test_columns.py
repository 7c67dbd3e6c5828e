"""Each section's columns are data written once: the header, the SQL select list and every row agree."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from agent.store import Store, parse_utc_text
from inspector.reports import findings, inventory, keys
from inspector.reports.diff import build_diff
from inspector.reports.findings import build_findings
from inspector.reports.inventory import build_inventory
from inspector.reports.keys import build_keys_report
from inspector.reports.model import Column, Report, column_names, select_list, shape

from .conftest import AS_OF
from .test_keys_queries import NOW, database


def test_select_list_and_shape() -> None:
    columns = (
        Column("name", "name"),
        Column("vault", "v.vault_name"),
        Column("flag", "o.enabled", lambda row: bool(row["flag"])),
        Column("added"),
    )
    assert select_list(columns) == "name, v.vault_name AS vault, o.enabled AS flag"
    assert column_names(columns) == ("name", "vault", "flag", "added")
    assert shape(columns, {"name": "a", "vault": "kv", "flag": 0, "added": 3, "other": 9}) == {
        "name": "a",
        "vault": "kv",
        "flag": False,
        "added": 3,
    }


def test_column_names_are_unique_per_section() -> None:
    for module in (inventory, keys, findings):
        for name, value in vars(module).items():
            if name.endswith("_COLUMNS"):
                names = column_names(value)
                assert len(set(names)) == len(names), f"{module.__name__}.{name}"


def _check(report: Report) -> None:
    for section in report.sections:
        assert len(set(section.columns)) == len(section.columns)
        for row in section.rows:
            assert set(section.columns) <= set(row), (section.name, set(section.columns) - set(row))


def test_every_row_has_every_column(fixture_db: Path, tmp_path: Path) -> None:
    as_of: datetime = parse_utc_text(AS_OF)
    with Store.open(fixture_db, readonly=True) as store:
        reports = [
            build_inventory(store, as_of=as_of),
            build_findings(store, as_of=as_of, include_resolved=True),
            build_diff(store, 1, 2),
        ]
    database(tmp_path / "keys.db", 12)
    with Store.open(tmp_path / "keys.db", readonly=True) as store:
        reports.append(build_keys_report(store, as_of=NOW))
    for report in reports:
        assert any(section.rows for section in report.sections)
        _check(report)
