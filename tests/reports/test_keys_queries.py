"""`report keys` reads a fixed number of queries however many Key Vault objects there are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.secrets.inspector import SecretsCycleResult
from agent.secrets.model import (
    ObjectType,
    RotationPolicyFacts,
    VaultError,
    VaultObjectFacts,
    VersionFacts,
)
from agent.secrets.records import record_secrets
from agent.store import Store, utc_text
from inspector.reports.keys import build_keys_report

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def vault_object(index: int) -> VaultObjectFacts:
    """Object `index`: versions newest first (the latest is versions[0]); every 5th unreadable."""
    kind = (ObjectType.SECRET, ObjectType.KEY, ObjectType.CERT)[index % 3]
    if index % 5 == 4:
        return VaultObjectFacts(
            "kv-a",
            "https://kv-a.vault.azure.net",
            kind,
            f"object-{index:03d}",
            error=VaultError("forbidden", "403 from Key Vault", status=403),
            fetched_at=NOW,
        )
    versions = tuple(
        VersionFacts(
            f"v{index}-{number}",
            number != 1,
            created_on=NOW - timedelta(days=10 * (number + 1)),
            expires_on=NOW + timedelta(days=index - 3 * number, hours=5) if index % 2 else None,
            key_type="RSA-HSM" if kind is ObjectType.KEY else None,
            key_bits=3072 if kind is ObjectType.KEY else None,
        )
        for number in range(3)
    )
    return VaultObjectFacts(
        "kv-a",
        "https://kv-a.vault.azure.net",
        kind,
        f"object-{index:03d}",
        versions=versions,
        rotation_policy=RotationPolicyFacts(True, time_after_create="P90D") if index % 3 else None,
        hsm_backed=kind is ObjectType.KEY,
        fetched_at=NOW,
    )


def database(path: Path, objects: int) -> list[VaultObjectFacts]:
    facts = [vault_object(index) for index in range(objects)]
    with Store.open(path) as store:
        for cycle in range(2):  # two observations each: the report reads the newer one
            seen = NOW - timedelta(hours=1 - cycle)
            run_id = store.begin_run(agent_id="a", mode="daemonset", started_at=seen)
            record_secrets(store, run_id, SecretsCycleResult(seen, vault_objects=tuple(facts)))
            store.finish_run(run_id, finished_at=seen)
    return facts


def statements_of_keys_report(path: Path) -> tuple[int, list[dict[str, object]]]:
    with Store.open(path, readonly=True) as store:
        statements: list[str] = []
        store.db.conn.set_trace_callback(statements.append)
        report = build_keys_report(store, as_of=NOW)
        store.db.conn.set_trace_callback(None)
    return len(statements), [dict(row) for row in report.section("vault_objects").rows]


def test_query_count_does_not_grow_with_the_objects(tmp_path: Path) -> None:
    database(tmp_path / "few.db", 3)
    database(tmp_path / "many.db", 60)
    few, few_rows = statements_of_keys_report(tmp_path / "few.db")
    many, many_rows = statements_of_keys_report(tmp_path / "many.db")
    assert (len(few_rows), len(many_rows)) == (3, 60)
    assert many == few


def test_each_object_shows_its_latest_version(tmp_path: Path) -> None:
    facts = database(tmp_path / "keys.db", 30)
    _, rows = statements_of_keys_report(tmp_path / "keys.db")
    by_name = {row["name"]: row for row in rows}
    assert len(by_name) == 30
    for item in facts:
        row = by_name[item.object_name]
        latest = item.latest
        if latest is None:
            assert (row["latest_version"], row["latest_expires"], row["key"]) == (None, None, None)
            assert row["metadata_status"] == "forbidden 403"
            continue
        assert row["latest_version"] == latest.version
        assert row["latest_enabled"] is True
        assert row["latest_created"] == utc_text(latest.created_on)
        expected_expiry = utc_text(latest.expires_on) if latest.expires_on else None
        assert row["latest_expires"] == expected_expiry
        assert row["key"] == ("RSA-HSM 3072" if item.object_type is ObjectType.KEY else None)
        assert row["versions"] == 3
        assert row["metadata_status"] == "ok"
