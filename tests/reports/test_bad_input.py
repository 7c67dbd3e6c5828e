"""Bad input to the read commands: a clear message, exit 2, and the file untouched."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from agent.store import Store
from agent.store.schema import MIGRATION_SET
from inspector.cli import main

from .conftest import AS_OF

COMMANDS = (
    ["report", "inventory"],
    ["report", "findings"],
    ["diff", "1", "2"],
    ["export", "--out", "{tmp}/snap"],
    ["waiver", "list"],
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(argv: list[str], tmp_path: Path, db: Path) -> int:
    return main([part.format(tmp=tmp_path) for part in argv] + ["--db", str(db)])


@pytest.mark.parametrize("argv", COMMANDS)
def test_missing_database(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nowhere.db"
    assert run(argv, tmp_path, db) == 2
    assert "no database at" in capsys.readouterr().err
    assert not db.exists()


@pytest.mark.parametrize("argv", COMMANDS)
def test_foreign_file(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "photo.db"
    db.write_bytes(bytes(range(256)) * 64)
    before = digest(db)
    assert run(argv, tmp_path, db) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    assert digest(db) == before


@pytest.mark.parametrize("argv", COMMANDS)
def test_newer_schema(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "future.db"
    Store.open(db).close()
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, 'm9999_future', 'x')",
        [MIGRATION_SET],
    )
    conn.commit()
    conn.close()
    before = digest(db)
    assert run(argv, tmp_path, db) == 2
    assert "newer than this cryptoscope" in capsys.readouterr().err
    assert digest(db) == before
    assert not (tmp_path / "snap").exists() or not any((tmp_path / "snap").iterdir())


def test_csv_to_stdout_needs_a_section(
    fixture_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "inventory", "--db", str(fixture_db), "--format", "csv"]) == 2
    assert "--section" in capsys.readouterr().err


def test_unknown_run(fixture_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "1", "99", "--db", str(fixture_db)]) == 2
    assert "no run 99" in capsys.readouterr().err


def test_bad_as_of(fixture_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "findings", "--db", str(fixture_db), "--as-of", "yesterday"]) == 2
    assert "--as-of" in capsys.readouterr().err
    assert AS_OF
