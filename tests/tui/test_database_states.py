"""A missing, empty, foreign, locked, newer-schema or older-schema database gives a clear screen, not a traceback."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from agent.store.schema import MIGRATIONS
from inspector.tui.database import DatabaseState, connect_readonly, probe
from inspector.tui.screens.dialogs import ProblemScreen
from inspector.tui.screens.overview import OverviewScreen
from inspector.tui.screens.secrets import NoSecretsScreen
from tests.tui.conftest import SIZE, make_app, settle


def newer_schema_copy(source: Path, target: Path) -> Path:
    """The fixture as a future cryptoscope would leave it: one migration this build does not know."""
    shutil.copyfile(source, target)
    with sqlite3.connect(target) as conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES ('cryptoscope', 'm9999_future', '2030-01-01')"
        )
        version = conn.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0]
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()
    return target


def schema_v1_database(target: Path) -> Path:
    """A database written before the secrets migration: the real first migration only."""
    db = Database(target)
    MIGRATIONS.apply(db, stop_before="m0002_iana_suite_details")
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO runs (agent_id, mode, tool_version, started_at, finished_at, status) "
        "VALUES ('old-agent', 'daemonset', '0.0.1', '2026-11-30T11:00:00Z', '2026-11-30T11:01:00Z', 'ok')"
    )
    db.conn.commit()
    db.close()
    return target


@pytest.mark.parametrize(
    ("make", "state"),
    [
        (lambda p: p, DatabaseState.MISSING),
        (lambda p: (p.write_bytes(b""), p)[1], DatabaseState.EMPTY),
        (
            lambda p: (p.write_bytes(b"this is not sqlite at all" * 100), p)[1],
            DatabaseState.NOT_A_DATABASE,
        ),
        (lambda p: (p.mkdir(), p)[1], DatabaseState.NOT_A_DATABASE),
    ],
    ids=["missing", "empty-file", "foreign-file", "directory"],
)
def test_probe_names_the_problem(tmp_path: Path, make: object, state: DatabaseState) -> None:
    path = make(tmp_path / "cluster.db")  # type: ignore[operator]
    status = probe(path)
    assert status.state is state
    assert str(path) in status.message


def test_probe_of_a_sqlite_file_without_runs(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    conn.close()
    assert probe(path).state is DatabaseState.NOT_A_DATABASE


def test_probe_of_a_schema_without_runs_rows_is_empty(tmp_path: Path) -> None:
    from agent.store import Store

    path = tmp_path / "fresh.db"
    Store.open(path).close()
    status = probe(path)
    assert status.state is DatabaseState.EMPTY and "no runs yet" in status.message


def test_probe_of_a_newer_schema(cluster_db: Path, tmp_path: Path) -> None:
    status = probe(newer_schema_copy(cluster_db, tmp_path / "future.db"))
    assert status.state is DatabaseState.NEWER_SCHEMA
    assert "Upgrade cryptoscope" in status.message


def test_probe_of_a_locked_database(cluster_db: Path) -> None:
    holder = sqlite3.connect(cluster_db, timeout=0)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        status = probe(cluster_db)
        assert status.state is DatabaseState.LOCKED
        assert "locked" in status.message
    finally:
        holder.rollback()
        holder.close()
    assert probe(cluster_db).ready


def test_reader_connection_is_read_only(cluster_db: Path) -> None:
    conn = connect_readonly(cluster_db)
    with pytest.raises(sqlite3.OperationalError):
        conn.execute("DELETE FROM runs")
    conn.close()


@pytest.mark.parametrize("kind", ["missing", "foreign", "newer"])
async def test_problem_screen_instead_of_a_traceback(
    cluster_db: Path, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"{kind}.db"
    if kind == "foreign":
        path.write_bytes(b"\x00garbage" * 512)
    elif kind == "newer":
        newer_schema_copy(cluster_db, path)
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ProblemScreen)
        text = str(app.screen.query_one("#problem-message").content)  # type: ignore[attr-defined]
        assert str(path) in text
        await pilot.press("colon")  # navigation keys do nothing harmful
        await settle(app, pilot)
        await pilot.press("escape", "e")
        await settle(app, pilot)
        assert app.return_code is None  # still running, no crash


async def test_problem_screen_turns_into_the_overview_when_data_arrives(
    cluster_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "later.db"
    app = make_app(path, refresh_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ProblemScreen)
        assert app.screen.problem_title == "No database"
        shutil.copyfile(cluster_db, path)
        for _ in range(300):  # up to 30 s: the machine is shared
            await pilot.pause(0.1)
            if isinstance(app.screen, OverviewScreen):
                break
        await settle(app, pilot)
        assert isinstance(app.screen, OverviewScreen)


async def test_locked_database_shows_locked_then_recovers(cluster_db: Path) -> None:
    holder = sqlite3.connect(cluster_db, timeout=0)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    app = make_app(cluster_db, refresh_interval=0.2)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            for _ in range(300):  # the first load may still be waiting out its busy timeout
                if isinstance(app.screen, ProblemScreen):
                    break
                await pilot.pause(0.1)
            assert isinstance(app.screen, ProblemScreen)
            assert app.screen.problem_title == "Database locked"
            holder.rollback()
            holder.close()
            for _ in range(300):  # up to 30 s: the machine is shared
                await pilot.pause(0.1)
                if isinstance(app.screen, OverviewScreen):
                    break
            assert isinstance(app.screen, OverviewScreen)
    finally:
        holder.close()


async def test_older_schema_without_secret_tables(tmp_path: Path) -> None:
    path = schema_v1_database(tmp_path / "v1.db")
    app = make_app(path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, OverviewScreen)
        assert app.screen.query_one("#panel-secrets").border_subtitle == "no CSI data yet"
        await pilot.press("colon", *"secrets", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, NoSecretsScreen)
