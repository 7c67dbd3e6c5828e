"""A full agent cycle with the secrets inspector, then export and reports — and the canary test.

The mounts are full of known canary values and private keys. After the cycle,
`cryptoscope export` and every report, none of those bytes — nor their base64 or
hex forms, nor any line of a PEM body — appears in the database (and its WAL),
the logs, the exported snapshot or the reports.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import kubernetes.client
import pytest

from agent.config import load_settings
from agent.discovery import KubeReader
from agent.runner import Agent, NamedInspector
from agent.secrets.files import KeyedHasher
from agent.secrets.inspector import inspect
from agent.store import Store
from inspector.cli import main
from inspector.lab import csi_tree
from inspector.lab.keyvault import FakeKeyVault
from inspector.lab.kube_api import KubeAPIServer
from inspector.lab.secrets_lab import MANIFEST, NODE, SecretsScenario, build_scenario
from tests.secrets.conftest import make_reader

pytestmark = pytest.mark.timeout(180)


def _forms(secret: bytes) -> set[bytes]:
    """The secret, its base64 (standard and URL-safe, padded or not) and hex, and each PEM body line."""
    forms = {secret}
    for encoded in (base64.b64encode(secret), base64.urlsafe_b64encode(secret)):
        forms |= {encoded, encoded.rstrip(b"=")}
    forms |= {secret.hex().encode(), secret.hex().upper().encode()}
    if b"-----BEGIN" in secret:
        forms |= {
            line
            for line in secret.splitlines()
            if len(line) >= 40 and not line.startswith(b"-----")
        }
    return {form for form in forms if len(form) >= 12}


@pytest.fixture(scope="module")
def cycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("cycle")
    handler_records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            handler_records.append(record)

    collector = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        with FakeKeyVault() as vault, KubeAPIServer() as api:
            scenario = build_scenario(vault, tmp / "kubelet" / "pods")
            api.load_yaml(MANIFEST, scenario.variables)
            client = kubernetes.client.ApiClient(api.configuration())
            db = tmp / "agent.db"
            settings = load_settings(
                {
                    "mode": "daemonset",
                    "node_name": NODE,
                    "db": str(db),
                    "kubelet_pods_dir": str(scenario.kubelet_pods_dir),
                    "ingress": "false",
                    "watch": "false",
                },
                environ={},
            )
            secrets_inspector = functools.partial(
                inspect,
                vault_reader=make_reader(vault, tmp),
                custom_api=kubernetes.client.CustomObjectsApi(client),
                hasher=KeyedHasher.load_or_create(tmp / "secret-hash.key"),
            )
            with Store.open(db) as store:
                agent = Agent(
                    settings,
                    store=store,
                    reader=KubeReader(client),
                    inspectors=[NamedInspector("secrets", secrets_inspector)],
                )
                report = agent.run_cycle()
                rotated = b"CANARY-rotated-" + secrets.token_hex(6).encode()
                scenario.canaries.append(rotated)
                csi_tree.write_kubelet_mount(  # the driver rotates one value between the cycles
                    scenario.kubelet_pods_dir,
                    scenario.variables["LEGACY_UID"],
                    "kv",
                    {"legacy-password": rotated},
                )
                second = agent.run_cycle()  # findings carried across runs
            outputs: dict[str, str] = {}
            from agent.server import write_snapshot

            write_snapshot(db, tmp / "agent-snapshot.db")  # what the agent's /snapshot streams
            export_dir = tmp / "export"
            assert main(["export", "--db", str(db), "--out", str(export_dir)]) == 0
            for fmt in ("markdown", "json"):
                out = tmp / f"keys.{fmt}"
                assert (
                    main(["report", "keys", "--db", str(db), "--format", fmt, "--out", str(out)])
                    == 0
                )
                outputs[f"keys.{fmt}"] = out.read_text()
            csv_dir = tmp / "keys-csv"
            assert (
                main(["report", "keys", "--db", str(db), "--format", "csv", "--out", str(csv_dir)])
                == 0
            )
            for path in csv_dir.iterdir():
                outputs[f"csv/{path.name}"] = path.read_text()
            for kind in ("findings", "inventory"):
                out = tmp / f"{kind}.json"
                assert (
                    main(["report", kind, "--db", str(db), "--format", "json", "--out", str(out)])
                    == 0
                )
                outputs[f"{kind}.json"] = out.read_text()
            yield {
                "scenario": scenario,
                "db": db,
                "export": export_dir,
                "outputs": outputs,
                "logs": "\n".join(
                    record.getMessage() + (str(record.exc_info) if record.exc_info else "")
                    for record in handler_records
                ),
                "status": (report.status, second.status),
                "vault": vault,
            }
    finally:
        root.removeHandler(collector)
        root.setLevel(previous_level)


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_cycle_records_mounts_objects_and_vault_metadata(cycle: dict[str, object]) -> None:
    db = cycle["db"]
    assert isinstance(db, Path)
    assert cycle["status"] == ("ok", "ok")
    assert _rows(db, "SELECT count(*) FROM current_secret_mounts")[0][0] == 4
    assert _rows(db, "SELECT count(*) FROM secret_mount_observations")[0][0] == 8  # two runs
    modes = dict(_rows(db, "SELECT pod, identity_mode FROM current_secret_mounts"))
    assert modes["legacy-0"] == "service-principal"
    stale = _rows(
        db, "SELECT is_latest, stale FROM current_secret_objects WHERE object_name = 'db-password'"
    )
    assert stale == [(0, 1)]
    kinds = dict(_rows(db, "SELECT path, kind FROM current_secret_files WHERE pod = 'checkout-0'"))
    assert kinds["tls.pem"] == "certificate-with-key" and kinds["pfx-bundle"] == "pfx"
    hsm = dict(
        _rows(
            db,
            "SELECT object_name, hsm_backed FROM current_vault_objects WHERE object_type = 'key'",
        )
    )
    assert hsm == {"signing-key": 0}
    errors = _rows(db, "SELECT stage, message FROM errors WHERE stage = 'keyvault'")
    assert errors and "forbidden 403" in str(errors[0][1])
    open_rules = {
        row[0] for row in _rows(db, "SELECT rule_id FROM current_findings WHERE status = 'open'")
    }
    assert {"V1", "V3", "V4", "V5", "V7", "V8", "V13", "V14", "V15", "V16"} <= open_rules
    first_seen = _rows(db, "SELECT first_run_id, last_run_id FROM findings WHERE rule_id = 'V7'")
    assert first_seen == [(1, 2)]


def test_report_keys_is_the_3_6_3_7_evidence(cycle: dict[str, object]) -> None:
    outputs = cycle["outputs"]
    assert isinstance(outputs, dict)
    report = json.loads(outputs["keys.json"])
    sections = report["sections"]
    objects = {(row["type"], row["name"]): row for row in sections["vault_objects"]["rows"]}
    signing = objects[("key", "signing-key")]
    assert signing["hsm_backed"] is False and signing["rotation_policy"] == "none"
    assert signing["read_by"] == [
        "workload-identity 11111111-2222-3333-4444-555555555555 (service account payments/checkout)"
    ]
    assert signing["mounted_in"] == ["payments/checkout-0:secrets-store/signing-key"]
    assert objects[("cert", "checkout-tls")]["rotation_policy"] == "auto-renew at 80% of lifetime"
    assert objects[("secret", "reports-token")]["metadata_status"] == "forbidden 403"
    versions = [row for row in sections["versions"]["rows"] if row["name"] == "db-password"]
    assert len(versions) == 4 and sum(row["mounted"] for row in versions) == 2
    assert "## Key Vault objects (3.6.1, 3.7.4, 3.7.5)" in outputs["keys.markdown"]
    assert {"csv/vault_objects.csv", "csv/versions.csv", "csv/mounted_objects.csv"} <= set(outputs)


def test_no_canary_bytes_anywhere(cycle: dict[str, object]) -> None:
    scenario = cycle["scenario"]
    assert isinstance(scenario, SecretsScenario)
    db, export = cycle["db"], cycle["export"]
    assert isinstance(db, Path) and isinstance(export, Path)
    haystacks: dict[str, bytes] = {}
    snapshot = db.with_name("agent-snapshot.db")
    assert snapshot.is_file()
    for path in [db, *db.parent.glob(db.name + "-*"), snapshot, *export.rglob("*")]:
        if path.is_file():
            haystacks[str(path)] = path.read_bytes()
    outputs = cycle["outputs"]
    assert isinstance(outputs, dict)
    for name, text in outputs.items():
        haystacks[name] = text.encode()
    haystacks["logs"] = str(cycle["logs"]).encode()
    assert len(haystacks) >= 8
    leaks = [
        (where, form[:24])
        for secret in scenario.canaries
        for form in _forms(secret)
        for where, data in haystacks.items()
        if form in data
    ]
    assert leaks == []
    vault = cycle["vault"]
    assert isinstance(vault, FakeKeyVault) and vault.value_reads() == []


def test_canary_check_would_catch_a_leak(cycle: dict[str, object]) -> None:
    """The scan above can fail: a canary written on purpose is found in every form."""
    scenario = cycle["scenario"]
    assert isinstance(scenario, SecretsScenario)
    secret = scenario.canaries[0]
    for leaked in (secret, base64.b64encode(secret), secret.hex().encode()):
        assert any(form in b"prefix " + leaked + b" suffix" for form in _forms(secret))


def test_collect_merges_the_secret_tables(cycle: dict[str, object], tmp_path: Path) -> None:
    """An agent's snapshot merged by `collect` keeps every secrets/Key Vault row (idempotently)."""
    from inspector.collect import Provenance, merge_snapshot

    db = cycle["db"]
    assert isinstance(db, Path)
    snapshot = tmp_path / "snapshot.db"
    with sqlite3.connect(db) as source, sqlite3.connect(snapshot) as target:
        source.backup(target)
    local = tmp_path / "collected.db"
    assert not merge_snapshot(local, snapshot, Provenance("agent-a", node=NODE)).unchanged
    assert merge_snapshot(local, snapshot, Provenance("agent-a", node=NODE)).unchanged
    tables = (
        "secret_mounts",
        "secret_mount_observations",
        "secret_objects",
        "secret_files",
        "secret_file_certificates",
        "vault_objects",
        "vault_object_observations",
        "vault_object_versions",
    )
    for table in tables:
        assert _rows(local, f"SELECT count(*) FROM {table}") == _rows(
            db, f"SELECT count(*) FROM {table}"
        ), table
    assert _rows(local, "SELECT count(*) FROM current_secret_objects")[0][0] == 8


def test_a_changed_value_is_detected_by_its_keyed_hash(cycle: dict[str, object]) -> None:
    db = cycle["db"]
    assert isinstance(db, Path)
    hashes = dict(
        _rows(
            db,
            "SELECT f.path, count(DISTINCT f.keyed_hash) FROM secret_files f"
            " JOIN secret_mount_observations o ON o.id = f.mount_observation_id"
            " WHERE f.path IN ('legacy-password', 'tls.pem') GROUP BY f.path",
        )
    )
    assert hashes == {"legacy-password": 2, "tls.pem": 1}
    outputs = cycle["outputs"]
    assert isinstance(outputs, dict)
    files = json.loads(outputs["keys.json"])["sections"]["mounted_files"]["rows"]
    assert all(row["content_first_seen"] for row in files)
