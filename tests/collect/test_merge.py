"""The merge on a realistic database (written through the store's write API): nothing lost, nothing doubled."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from inspector.collect import Provenance, merge_snapshot
from inspector.lab.synthetic import generate


def tables(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        return [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
            if name
            not in ("_sqlite_migrations", "waivers", "collected_snapshots", "collected_runs")
        ]


def count(db: Path, sql: str) -> object:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_a_snapshot_merges_whole_and_once(tmp_path: Path) -> None:
    source = tmp_path / "agent.db"
    generate(source, endpoints=150, runs=3)
    local = tmp_path / "local.db"
    result = merge_snapshot(local, source, Provenance("agent-a", node="node-a"))
    assert result.runs_merged == 3 and not result.unchanged
    for table in tables(source):
        assert count(local, f"SELECT count(*) FROM {table}") == count(
            source, f"SELECT count(*) FROM {table}"
        ), table
    # the current view (latest scan per endpoint) and the open findings are the same as the agent's
    current = "SELECT subject_key, transport, negotiated_protocol, leaf_sha256 FROM current_endpoints ORDER BY subject_key"
    assert count(local, current) == count(source, current)
    findings = "SELECT rule_id, subject_key, detail_key, first_seen, last_seen, resolved_at FROM findings ORDER BY 1, 2, 3"
    assert count(local, findings) == count(source, findings)
    assert count(local, "PRAGMA foreign_key_check") == []
    before = {table: count(local, f"SELECT count(*) FROM {table}") for table in tables(local)}
    # the same file again, and a copy of it (another hash): nothing changes
    assert merge_snapshot(local, source, Provenance("agent-a")).unchanged
    copy = tmp_path / "copy.db"
    with sqlite3.connect(source) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
        dst.execute("PRAGMA user_version = 99")  # different bytes, same evidence
    again = merge_snapshot(local, copy, Provenance("agent-a"))
    assert (again.runs_merged, again.runs_present) == (0, 3)
    assert {
        table: count(local, f"SELECT count(*) FROM {table}") for table in tables(local)
    } == before
