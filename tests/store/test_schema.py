"""Schema and migrations: created, upgraded from every previous version, refused when foreign or newer."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from agent.store import SchemaTooNewError, Store, StoreError, schema_version
from agent.store.schema import MIGRATION_SET, MIGRATIONS
from agent.store.store import known_migration_names

from .conftest import identity, tls_scan


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_new_database_has_every_migration_wal_and_user_version(store: Store, db_path: Path) -> None:
    assert store.schema_version == schema_version() == len(known_migration_names())
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()
    tables = {
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    }
    assert {
        "runs",
        "endpoints",
        "endpoint_scans",
        "accepted_protocols",
        "accepted_suites",
        "accepted_groups",
        "certificates",
        "chain_positions",
        "errors",
        "findings",
        "waivers",
        "rules",
        "iana_cipher_suites",
        "iana_groups",
        "current_endpoints",
        "current_findings",
    } <= tables


def test_foreign_keys_on_for_writers(store: Store) -> None:
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


#: Rows valid since the first migration, written at an old version before upgrading.
SEED_ROWS = """
INSERT INTO runs (id, agent_id, mode, tool_version, started_at, finished_at, status, endpoint_count)
    VALUES (1, 'old-agent', 'daemonset', '0.0.1', '2025-01-01T00:00:00Z', '2025-01-01T00:05:00Z', 'ok', 1);
INSERT INTO endpoints (id, subject_key, ip, port, first_seen, last_seen)
    VALUES (1, '10.0.0.1:443', '10.0.0.1', 443, '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z');
INSERT INTO endpoint_scans (id, run_id, endpoint_id, transport) VALUES (1, 1, 1, 'tls');
UPDATE endpoints SET latest_scan_id = 1;
INSERT INTO accepted_protocols VALUES (1, 'TLSv1.2', 1);
INSERT INTO accepted_suites VALUES (1, 'TLSv1.2', 'TLS_RSA_WITH_AES_128_CBC_SHA', 1);
INSERT INTO findings (rule_id, severity, requirements, subject_type, subject_key, endpoint_id, message,
    first_seen, last_seen, first_run_id, last_run_id)
    VALUES ('C6', 'medium', '4.2.1', 'endpoint', '10.0.0.1:443', 1, 'static RSA', '2025-01-01T00:00:00Z',
    '2025-01-01T00:00:00Z', 1, 1);
INSERT INTO waivers (rule_id, subject_pattern, reason, approver, created_at, expires_at)
    VALUES ('C6', '10.0.0.*', 'legacy', 'ciso', '2025-01-01T00:00:00Z', '2025-06-01T00:00:00Z')
"""


@pytest.mark.parametrize("stop_before", known_migration_names())
def test_upgrade_from_each_previous_version_keeps_data(tmp_path: Path, stop_before: str) -> None:
    path = tmp_path / "old.db"
    db = Database(path)
    MIGRATIONS.apply(db, stop_before=stop_before)
    applied_before = [m.name for m in MIGRATIONS.applied(db)]
    if applied_before:  # a previous version, with evidence written by it
        with db.conn:
            for statement in SEED_ROWS.split(";\n"):
                db.conn.execute(statement)
    db.close()
    with Store.open(path) as store:  # applies every pending migration
        assert store.schema_version == schema_version()
        assert [m.name for m in MIGRATIONS.applied(store.db)][
            : len(applied_before)
        ] == applied_before
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema_version()
        if applied_before:
            assert store.db.execute(
                "SELECT subject_key, transport FROM current_endpoints"
            ).fetchall() == [("10.0.0.1:443", "tls")]
            assert store.db.execute("SELECT suite FROM current_accepted_suites").fetchall() == [
                ("TLS_RSA_WITH_AES_128_CBC_SHA",)
            ]
            assert store.db.execute("SELECT count(*) FROM findings JOIN waivers").fetchone()[0] == 1
            # columns added later read as "not recorded" on old scans
            assert store.db.execute(
                "SELECT dhe_groups, dhe_group_negotiation, revocation_status FROM endpoint_scans"
            ).fetchall() == [("[]", None, None)]
            assert store.db.execute("SELECT count(*) FROM current_dhe_groups").fetchone()[0] == 0
            assert store.db.execute("SELECT count(*) FROM current_revocation").fetchone()[0] == 0
        # and the upgraded database takes new runs
        run_id = store.begin_run(agent_id="new-agent", mode="daemonset")
        store.record_endpoint_scan(run_id, identity(), tls_scan())
        store.finish_run(run_id)
        assert store.db.execute("SELECT count(*) FROM iana_cipher_suites").fetchone()[0] > 300


def test_missing_file_is_a_clear_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    with pytest.raises(StoreError, match="no database"):
        Store.open(path, create=False)
    with pytest.raises(StoreError, match="no database"):
        Store.open(path, readonly=True)
    assert not path.exists()


def test_foreign_file_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not a database, just some text\n" * 200)
    before = digest(path)
    with pytest.raises(StoreError, match="not a SQLite database"):
        Store.open(path)
    assert digest(path) == before


def test_other_sqlite_database_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    before = digest(path)
    with pytest.raises(StoreError, match="not a cryptoscope"):
        Store.open(path)
    assert digest(path) == before
    assert not Path(str(path) + "-wal").exists()


def test_newer_schema_is_refused_unchanged(store: Store, db_path: Path) -> None:
    store.db.conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
        (MIGRATION_SET, "m9999_from_the_future", "2030-01-01"),
    )
    store.db.conn.commit()
    store.close()
    before = digest(db_path)
    with pytest.raises(SchemaTooNewError, match="newer than this cryptoscope"):
        Store.open(db_path)
    with pytest.raises(SchemaTooNewError):
        Store.open(db_path, readonly=True)
    assert digest(db_path) == before


def test_readonly_store_refuses_writes(store: Store, db_path: Path) -> None:
    with Store.open(db_path, readonly=True) as reader, pytest.raises(StoreError, match="read-only"):
        reader.begin_run(agent_id="a", mode="daemonset")


def test_two_processes_creating_the_same_database(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "shared.db"
    code = (
        "import sys; from agent.store import Store; "
        "s = Store.open(sys.argv[1]); s.close(); print('ok')"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], results
    with Store.open(path) as store:
        assert store.schema_version == schema_version()
        assert len(MIGRATIONS.applied(store.db)) == schema_version()
