"""Rule V12 over collected clusters: the same key in a production and a non-production cluster.

Each agent's database is written through the store's write API (its runs carry the
cluster's environment), merged by collect's own merge code, then judged. Keys come from
real certificates and real mounted files (read by the agent's own mount reader).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlite_utils import Database

from agent.config import SettingsError, load_settings
from agent.rules import RULES, Severity, evaluate
from agent.rules.reuse import KeyReuseSubject, KeySighting, key_subject_key
from agent.runner import Agent
from agent.secrets.files import KeyedHasher
from agent.secrets.inspector import MountRecord, SecretsCycleResult
from agent.secrets.model import IdentityMode
from agent.secrets.mounts import read_mount
from agent.secrets.records import record_secrets
from agent.secrets.spc import Identity
from agent.store import EndpointIdentity, Store
from agent.store.schema import MIGRATIONS
from agent.tls.certificates import certificate_info
from agent.tls.model import EndpointScan, Transport
from inspector.collect import Provenance, merge_snapshot
from inspector.lab.pki import Issued, make_ca, make_leaf
from inspector.reuse import COLLECT_AGENT, evaluate_key_reuse

T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("reuse test CA")


def reissued(original: Issued, issuer: Issued, common_name: str) -> x509.Certificate:
    """A new certificate (other name, serial and dates) for the same key pair."""
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]))
        .issuer_name(issuer.certificate.subject)
        .public_key(original.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )


def agent_db(
    path: Path,
    agent_id: str,
    environment: str,
    leaf: x509.Certificate,
    *,
    at: dt.datetime = T0,
    pod: str = "web-1",
) -> Path:
    """One agent's cycle: a TLS endpoint whose leaf is `leaf`, in a run of `environment`."""
    with Store.open(path) as store:
        run_id = store.begin_run(
            agent_id=agent_id, mode="cluster", environment=environment, started_at=at
        )
        store.record_endpoint_scan(
            run_id,
            EndpointIdentity(
                "10.0.0.5",
                443,
                sni="web.shop.svc",
                namespace="shop",
                workload_kind="Deployment",
                workload_name="web",
                pod=pod,
            ),
            EndpointScan(
                "10.0.0.5",
                443,
                Transport.TLS,
                sni="web.shop.svc",
                certificates=(certificate_info(leaf),),
            ),
        )
        store.finish_run(run_id, finished_at=at + dt.timedelta(minutes=1))
    return path


def mount_db(
    path: Path, agent_id: str, environment: str, directory: Path, *, at: dt.datetime = T0
) -> Path:
    """One agent's cycle that read the CSI mount `directory` (the agent's own reader)."""
    snapshot = read_mount(directory, KeyedHasher(b"k" * 32))
    mount = MountRecord(
        subject_key=f"payments/api-0/kv-{directory.name}",
        namespace="payments",
        pod_name="api-0",
        pod_uid="uid-1",
        node_name="node-a",
        volume_name=f"kv-{directory.name}",
        spc=None,
        identity=Identity(IdentityMode.WORKLOAD_IDENTITY, "client-1"),
        status=None,
        snapshot=snapshot,
        unmatched_files=snapshot.files,
    )
    with Store.open(path) as store:
        run_id = store.begin_run(
            agent_id=agent_id, mode="daemonset", environment=environment, started_at=at
        )
        record_secrets(store, run_id, SecretsCycleResult(at, mounts=(mount,)))
        store.finish_run(run_id, finished_at=at + dt.timedelta(minutes=1))
    return path


def merge(local: Path, *snapshots: tuple[Path, str]) -> None:
    for snapshot, agent_id in snapshots:
        merge_snapshot(local, snapshot, Provenance(agent_id, node=f"node-{agent_id}"))


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


#: subject_key, severity, requirements, message, resolved_at
V12Row = tuple[str, str, str, str, str | None]


def v12(db: Path) -> list[V12Row]:
    with closing(sqlite3.connect(db)) as conn:
        found: list[V12Row] = conn.execute(
            "SELECT subject_key, severity, requirements, message, resolved_at FROM findings"
            " WHERE rule_id = 'V12' ORDER BY subject_key"
        ).fetchall()
    return found


def spki(cert: x509.Certificate) -> str:
    return certificate_info(cert).spki_sha256


def test_the_same_key_in_prod_and_test_is_one_finding_naming_both(
    tmp_path: Path, ca: Issued
) -> None:
    prod_leaf = make_leaf(ca, common_name="web.prod.example")
    test_cert = reissued(prod_leaf, ca, "web.test.example")  # same key, another certificate
    assert certificate_info(test_cert).sha256 != certificate_info(prod_leaf.certificate).sha256
    local = tmp_path / "local.db"
    merge(
        local,
        (agent_db(tmp_path / "p.db", "agent-prod", "prod", prod_leaf.certificate), "agent-prod"),
        (agent_db(tmp_path / "t.db", "agent-test", "test", test_cert, pod="web-2"), "agent-test"),
    )
    # the merge keeps each run's environment
    assert sorted(rows(local, "SELECT agent_id, environment FROM runs")) == [
        ("agent-prod", "prod"),
        ("agent-test", "test"),
    ]
    result = evaluate_key_reuse(local, now=T0 + dt.timedelta(hours=1))
    assert result.keys_compared == 1 and result.run_id is not None
    [(subject, severity, requirements, message, resolved)] = v12(local)
    assert subject == key_subject_key(spki(prod_leaf.certificate))
    assert (severity, requirements, resolved) == (str(Severity.HIGH), "3.6.1.1", None)
    assert "used in production (1 place: endpoint shop/Deployment/web/web-1@" in message
    assert "agent agent-prod" in message
    assert "in test" in message and "agent agent-test" in message and "web-2@" in message
    # the finding is open in the current view, its rule described in the rules table
    assert rows(local, "SELECT status FROM current_findings WHERE rule_id = 'V12'") == [("open",)]
    assert rows(local, "SELECT requirements FROM rules WHERE id = 'V12'") == [("3.6.1.1",)]
    assert rows(local, f"SELECT mode FROM runs WHERE agent_id = '{COLLECT_AGENT}'") == [
        ("collect",)
    ]
    # judged again with nothing new: the same one finding, still open
    evaluate_key_reuse(local, now=T0 + dt.timedelta(hours=2))
    assert [row[0] for row in v12(local)] == [subject] and v12(local)[0][4] is None


def test_reuse_between_two_prod_clusters_is_not_v12(tmp_path: Path, ca: Issued) -> None:
    leaf = make_leaf(ca, common_name="web.prod.example")
    local = tmp_path / "local.db"
    merge(
        local,
        (agent_db(tmp_path / "a.db", "prod-east", "prod", leaf.certificate), "prod-east"),
        (agent_db(tmp_path / "b.db", "prod-west", "prod", leaf.certificate), "prod-west"),
    )
    result = evaluate_key_reuse(local)
    assert (result.keys_compared, result.findings, result.run_id) == (0, (), None)
    assert v12(local) == []
    assert rows(local, "SELECT count(*) FROM runs") == [(2,)]  # nothing written


@pytest.mark.parametrize("environments", [("prod", ""), ("", "test"), ("", "")])
def test_unknown_environment_gives_no_finding(
    tmp_path: Path, ca: Issued, environments: tuple[str, str]
) -> None:
    leaf = make_leaf(ca, common_name="web.example")
    local = tmp_path / "local.db"
    merge(
        local,
        (agent_db(tmp_path / "a.db", "agent-a", environments[0], leaf.certificate), "agent-a"),
        (agent_db(tmp_path / "b.db", "agent-b", environments[1], leaf.certificate), "agent-b"),
    )
    assert evaluate_key_reuse(local).findings == ()
    assert v12(local) == []


def test_test_and_dev_sharing_a_key_is_not_v12(tmp_path: Path, ca: Issued) -> None:
    leaf = make_leaf(ca, common_name="web.example")
    local = tmp_path / "local.db"
    merge(
        local,
        (agent_db(tmp_path / "a.db", "agent-a", "test", leaf.certificate), "agent-a"),
        (agent_db(tmp_path / "b.db", "agent-b", "dev", leaf.certificate), "agent-b"),
    )
    result = evaluate_key_reuse(local)
    assert result.keys_compared == 1 and result.findings == ()


def test_the_finding_resolves_when_the_test_cluster_gets_its_own_key(
    tmp_path: Path, ca: Issued
) -> None:
    prod_leaf = make_leaf(ca, common_name="web.prod.example")
    local = tmp_path / "local.db"
    merge(
        local,
        (agent_db(tmp_path / "p.db", "agent-prod", "prod", prod_leaf.certificate), "agent-prod"),
        (agent_db(tmp_path / "t.db", "agent-test", "test", prod_leaf.certificate), "agent-test"),
    )
    assert len(evaluate_key_reuse(local, now=T0 + dt.timedelta(hours=1)).findings) == 1
    # the test cluster's next cycle serves a new key; its snapshot (both runs) is collected again
    own = make_leaf(ca, common_name="web.test.example")
    later = T0 + dt.timedelta(hours=2)
    merge(
        local,
        (
            agent_db(tmp_path / "t.db", "agent-test", "test", own.certificate, at=later),
            "agent-test",
        ),
    )
    result = evaluate_key_reuse(local, now=later + dt.timedelta(minutes=5))
    assert (result.findings, result.resolved) == ((), 1)
    [(_, _, _, _, resolved)] = v12(local)
    assert resolved == "2026-11-30T12:05:00Z"
    assert rows(local, "SELECT count(*) FROM current_findings WHERE rule_id = 'V12'") == [(0,)]
    # nothing open and nothing found: judging again writes nothing
    runs = rows(local, "SELECT count(*) FROM runs")
    assert evaluate_key_reuse(local).run_id is None
    assert rows(local, "SELECT count(*) FROM runs") == runs


def write_mount(directory: Path, files: dict[str, bytes]) -> Path:
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
        (directory / name).chmod(0o440)
    return directory


def test_a_mounted_key_in_test_that_serves_tls_in_prod(tmp_path: Path, ca: Issued) -> None:
    leaf = make_leaf(ca, common_name="api.prod.example")
    # the test cluster mounts the production key pair from Key Vault, and the CA bundle
    mount = write_mount(tmp_path / "tls", {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem})
    bundle = write_mount(tmp_path / "ca", {"ca.crt": ca.cert_pem})
    local = tmp_path / "local.db"
    merge(
        local,
        (agent_db(tmp_path / "p.db", "agent-prod", "prod", leaf.certificate), "agent-prod"),
        (mount_db(tmp_path / "m.db", "agent-test", "test", mount), "agent-test"),
        (mount_db(tmp_path / "c.db", "agent-ca-test", "test", bundle), "agent-ca-test"),
        (mount_db(tmp_path / "c2.db", "agent-ca-prod", "prod", bundle), "agent-ca-prod"),
    )
    evaluate_key_reuse(local)
    [(subject, _, _, message, _)] = v12(local)  # the CA trusted everywhere is no key reuse
    assert subject == key_subject_key(spki(leaf.certificate))
    assert "in test (2 places: mount payments/api-0/kv-tls tls.crt (agent agent-test)" in message
    assert "mount payments/api-0/kv-tls tls.key (agent agent-test)" in message
    # facts only: no key material in the findings or the mount tables
    key_body = b"".join(leaf.key_pem.splitlines()[1:-1]).decode()
    der = leaf.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with closing(sqlite3.connect(local)) as conn:
        dump = "\n".join(conn.iterdump())
    assert key_body[:40] not in dump and der.hex()[:64] not in dump


def test_the_environment_setting(tmp_path: Path) -> None:
    assert load_settings({}, {}).environment == ""
    assert load_settings({}, {"CRYPTOSCOPE_ENVIRONMENT": " Prod "}).environment == "prod"
    assert load_settings({"environment": "test"}, {}).environment == "test"
    with pytest.raises(SettingsError, match="CRYPTOSCOPE_ENVIRONMENT: must be one of prod"):
        load_settings({}, {"CRYPTOSCOPE_ENVIRONMENT": "production-ish"})
    assert RULES["V12"].subject_type == "key"


def test_a_snapshot_from_before_the_environment_setting_is_unknown(
    tmp_path: Path, ca: Issued
) -> None:
    """An agent of the previous schema (no runs.environment) merges as unknown: no V12 claim."""
    leaf = make_leaf(ca, common_name="web.example")
    info = certificate_info(leaf.certificate)
    old = tmp_path / "old.db"
    db = Database(old)
    MIGRATIONS.apply(db, stop_before="m0009_run_environment")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS.applied(db))}")
    seen = "2026-11-30T09:00:00Z"
    with db.conn:
        db.conn.execute(
            "INSERT INTO runs (id, agent_id, mode, tool_version, started_at, finished_at, status)"
            " VALUES (1, 'agent-old', 'cluster', '0.1', ?, ?, 'ok')",
            (seen, seen),
        )
        db.conn.execute(
            "INSERT INTO certificates (sha256, sha1, subject, issuer, serial, not_before, not_after,"
            " key_type, key_bits, signature_algorithm, spki_sha256, first_seen, last_seen)"
            " VALUES (?, ?, 'CN=web.example', 'CN=reuse test CA', '01', ?, ?, 'EC', 256,"
            " 'ecdsa-with-SHA256', ?, ?, ?)",
            (info.sha256, info.sha1, seen, seen, info.spki_sha256, seen, seen),
        )
        db.conn.execute(
            "INSERT INTO endpoints (id, subject_key, ip, port, first_seen, last_seen)"
            " VALUES (1, '10.9.0.1:443', '10.9.0.1', 443, ?, ?)",
            (seen, seen),
        )
        db.conn.execute(
            "INSERT INTO endpoint_scans (id, run_id, endpoint_id, transport, leaf_sha256)"
            " VALUES (1, 1, 1, 'tls', ?)",
            (info.sha256,),
        )
        db.conn.execute("UPDATE endpoints SET latest_scan_id = 1")
    db.close()
    local = tmp_path / "local.db"
    merge(
        local,
        (old, "agent-old"),
        (agent_db(tmp_path / "p.db", "agent-prod", "prod", leaf.certificate), "agent-prod"),
    )
    assert sorted(rows(local, "SELECT agent_id, environment FROM runs")) == [
        ("agent-old", ""),
        ("agent-prod", "prod"),
    ]
    assert evaluate_key_reuse(local).findings == ()
    assert v12(local) == []


def test_the_agent_records_its_environment_on_each_run(tmp_path: Path) -> None:
    """The setting reaches the run the agent's own cycle writes (no Kubernetes: an empty cycle)."""
    settings = load_settings(
        {"agent_id": "agent-x", "db": str(tmp_path / "a.db")},
        {"CRYPTOSCOPE_ENVIRONMENT": "staging"},
    )
    with Store.open(tmp_path / "a.db") as store:
        assert Agent(settings, store=store, reader=None, inspectors=[]).run_cycle().status == "ok"
    assert rows(tmp_path / "a.db", "SELECT agent_id, environment, status FROM runs") == [
        ("agent-x", "staging", "ok")
    ]


def test_the_message_counts_every_place_and_names_two_per_side() -> None:
    sightings = tuple(
        KeySighting(
            environment, f"agent-{environment}-{n}", "endpoint", f"ns/web-{n}@10.0.0.{n}:443"
        )
        for environment, count in (("prod", 3), ("test", 1), ("dev", 1), ("", 4))
        for n in range(count)
    )
    [finding] = evaluate(
        KeyReuseSubject("ab" * 32, sightings),
        "key:spki-sha256:" + "ab" * 32,
        subject_type="key",
        rules=[RULES["V12"]],
    )
    assert finding.message == (
        f"key SPKI SHA-256 {'ab' * 8}… is used in production (3 places:"
        " endpoint ns/web-0@10.0.0.0:443 (agent agent-prod-0),"
        " endpoint ns/web-1@10.0.0.1:443 (agent agent-prod-1), …)"
        " and in dev, test (2 places: endpoint ns/web-0@10.0.0.0:443 (agent agent-dev-0),"
        " endpoint ns/web-0@10.0.0.0:443 (agent agent-test-0))"
    )
