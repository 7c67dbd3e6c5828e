"""`cryptoscope report keys` on a database without CSI data, and on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.store import Store
from inspector.cli import main


def test_empty_database_gives_empty_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "empty.db"
    Store.open(db).close()
    assert main(["report", "keys", "--db", str(db), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["facts"]["mounts_current"] == 0
    assert all(section["rows"] == [] for section in report["sections"].values())
    assert main(["report", "keys", "--db", str(db)]) == 0
    assert "_None._" in capsys.readouterr().out


def test_missing_database_and_csv_without_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "keys", "--db", str(tmp_path / "nope.db")]) == 2
    assert "no database" in capsys.readouterr().err
    db = tmp_path / "empty.db"
    Store.open(db).close()
    assert main(["report", "keys", "--db", str(db), "--format", "csv"]) == 2
    assert "--section" in capsys.readouterr().err
    assert (
        main(["report", "keys", "--db", str(db), "--format", "csv", "--section", "versions"]) == 0
    )
    assert capsys.readouterr().out.startswith("vault,type,name,version,enabled,created")
