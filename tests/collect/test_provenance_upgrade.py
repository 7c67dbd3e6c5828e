"""Collect's provenance tables come from migration m0006; databases made before it keep working."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database

from agent.store import Store, schema_version
from agent.store.schema import MIGRATION_SET, MIGRATIONS
from inspector.collect import Provenance, merge_snapshot
from inspector.lab.synthetic import generate

PROVENANCE_MIGRATION = "m0006_collect_provenance"

#: The tables exactly as `collect` created them itself before migration m0006 existed.
PREVIOUS_COLLECT_DDL = """
CREATE TABLE IF NOT EXISTS collected_snapshots (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    node TEXT,
    pod TEXT,
    namespace TEXT,
    snapshot_time TEXT,
    collected_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    runs_merged INTEGER NOT NULL DEFAULT 0,
    runs_present INTEGER NOT NULL DEFAULT 0,
    runs_unfinished INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS collected_runs (
    source_agent TEXT NOT NULL,
    source_run_id INTEGER NOT NULL,
    source_started_at TEXT NOT NULL,
    local_run_id INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL REFERENCES collected_snapshots (id),
    PRIMARY KEY (source_agent, source_run_id, source_started_at)
);
"""


def applied(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [
            name
            for (name,) in conn.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
                (MIGRATION_SET,),
            )
        ]


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def previous_version(path: Path) -> None:
    """A database at the schema version before m0006, as that version's agent wrote it."""
    db = Database(path)
    MIGRATIONS.apply(db, stop_before=PROVENANCE_MIGRATION)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS.applied(db))}")
    db.close()


def test_a_new_database_has_the_provenance_tables_from_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    Store.open(path).close()
    assert PROVENANCE_MIGRATION in applied(path)
    names = {name for (name,) in rows(path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"collected_snapshots", "collected_runs"} <= names


def test_previous_schema_without_provenance_upgrades_and_merges(tmp_path: Path) -> None:
    local = tmp_path / "local.db"
    previous_version(local)
    assert PROVENANCE_MIGRATION not in applied(local)
    assert rows(local, "SELECT name FROM sqlite_master WHERE name LIKE 'collected_%'") == []
    snapshot = tmp_path / "agent.db"
    generate(snapshot, endpoints=20, runs=2, seed=3)
    result = merge_snapshot(local, snapshot, Provenance("agent-a", node="node-a"))
    assert result.runs_merged == 2
    assert applied(local) == [m.name for m in MIGRATIONS._migrations]
    assert rows(local, "PRAGMA user_version") == [(schema_version(),)]
    assert rows(local, "SELECT agent_id, node, runs_merged FROM collected_snapshots") == [
        ("agent-a", "node-a", 2)
    ]
    assert rows(local, "SELECT count(*) FROM collected_runs") == [(2,)]


def test_database_written_by_the_previous_collect_keeps_its_provenance(tmp_path: Path) -> None:
    """Tables made by the old collect (no migration record) stay, rows and all, and still stop double merges."""
    snapshot = tmp_path / "agent.db"
    generate(snapshot, endpoints=20, runs=2, seed=5)
    local = tmp_path / "local.db"
    previous_version(local)
    # what the previous collect did: its own tables next to the migrations, then the merged runs
    with sqlite3.connect(local) as conn:
        conn.executescript(PREVIOUS_COLLECT_DDL)
        conn.execute(
            "INSERT INTO collected_snapshots (agent_id, node, collected_at, sha256, runs_merged)"
            " VALUES ('agent-a', 'node-a', '2026-01-01T00:00:00Z', 'earlier', 0)"
        )
    before = rows(local, "SELECT * FROM collected_snapshots")

    first = merge_snapshot(local, snapshot, Provenance("agent-a", node="node-a"))
    assert first.runs_merged == 2
    assert applied(local) == [m.name for m in MIGRATIONS._migrations]
    assert rows(local, "SELECT * FROM collected_snapshots WHERE sha256 = 'earlier'") == before
    assert rows(local, "SELECT count(*) FROM collected_snapshots") == [(2,)]
    assert rows(local, "PRAGMA foreign_key_check") == []
    # the same evidence in other bytes is recognised through the provenance rows: nothing doubles
    runs = rows(local, "SELECT count(*) FROM runs")
    copy = tmp_path / "copy.db"
    with sqlite3.connect(snapshot) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        dst.execute("PRAGMA user_version = 77")
    again = merge_snapshot(local, copy, Provenance("agent-a"))
    assert (again.runs_merged, again.runs_present) == (0, 2)
    assert rows(local, "SELECT count(*) FROM runs") == runs
    assert merge_snapshot(local, snapshot, Provenance("agent-a")).unchanged


def test_snapshot_from_the_previous_version_merges(tmp_path: Path) -> None:
    """An agent still at the previous schema: its snapshot is upgraded in a copy, the file is untouched."""
    snapshot = tmp_path / "agent.db"
    previous_version(snapshot)
    with sqlite3.connect(snapshot) as conn:
        conn.executescript(
            """
INSERT INTO runs (id, agent_id, mode, tool_version, started_at, finished_at, status, endpoint_count)
    VALUES (1, 'agent-b', 'daemonset', '0.0.1', '2026-01-01T00:00:00Z', '2026-01-01T00:05:00Z', 'ok', 1);
INSERT INTO endpoints (id, subject_key, ip, port, first_seen, last_seen)
    VALUES (1, '10.0.0.1:443', '10.0.0.1', 443, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO endpoint_scans (id, run_id, endpoint_id, transport, started_at)
    VALUES (1, 1, 1, 'tls', '2026-01-01T00:00:00Z');
UPDATE endpoints SET latest_scan_id = 1;
"""
        )
    original = snapshot.read_bytes()
    local = tmp_path / "local.db"
    assert merge_snapshot(local, snapshot, Provenance("agent-b")).runs_merged == 1
    assert snapshot.read_bytes() == original
    assert rows(local, "SELECT source_agent, source_run_id FROM collected_runs") == [("agent-b", 1)]
    assert rows(local, "SELECT subject_key FROM current_endpoints") == [("10.0.0.1:443",)]
