"""The write API: runs, endpoint scans, findings across runs, waivers, retention."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from agent.rules import Finding, Severity, evaluate_endpoint
from agent.store import Store, StoreError
from agent.tls.model import EndpointScan, Transport

from .conftest import T0, identity, tls_scan


def run_with(store: Store, scans: list, *, at: datetime = T0, status: str = "ok") -> int:
    run_id = store.begin_run(agent_id="agent-a", node="node-a", mode="daemonset", started_at=at)
    for ident, scan in scans:
        store.record_endpoint_scan(run_id, ident, scan)
        store.record_findings(
            run_id, evaluate_endpoint(scan, ident.subject_key, now=at), seen_at=at
        )
    store.finish_run(run_id, status=status, finished_at=at + timedelta(minutes=1))
    return run_id


def test_endpoint_scan_rows_read_back(store: Store) -> None:
    run_id = run_with(store, [(identity(), tls_scan())])
    row = store.db.execute("SELECT * FROM runs WHERE id = ?", [run_id]).fetchone()
    assert row is not None
    current = list(store.db.query("SELECT * FROM current_endpoints"))
    assert len(current) == 1
    assert current[0]["subject_key"] == "payments/Deployment/api/api-1@10.0.0.1:443"
    assert current[0]["negotiated_suite"] == "TLS_AES_128_GCM_SHA256"
    suites = [
        (r["protocol"], r["suite"], r["preference_rank"])
        for r in store.db.query(
            "SELECT * FROM current_accepted_suites ORDER BY protocol, preference_rank"
        )
    ]
    assert suites == [
        ("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 1),
        ("TLSv1.2", "TLS_RSA_WITH_AES_128_CBC_SHA", 2),
        ("TLSv1.3", "TLS_AES_128_GCM_SHA256", 1),
    ]
    chain = [r["position"] for r in store.db.query("SELECT * FROM current_chain_positions")]
    assert chain == [0, 1]
    assert store.db.execute("SELECT count(*) FROM certificates").fetchone()[0] == 2
    assert current[0]["sni"] == "api.example"


def test_run_counts_and_status(store: Store) -> None:
    run_id = run_with(store, [(identity(), tls_scan()), (identity("api-2"), tls_scan("10.0.0.2"))])
    endpoint_count, status, finding_count = store.db.execute(
        "SELECT endpoint_count, status, finding_count FROM runs WHERE id = ?", [run_id]
    ).fetchone()
    assert (endpoint_count, status) == (2, "ok")
    assert finding_count == store.db.execute("SELECT count(*) FROM findings").fetchone()[0] > 0


def test_certificates_are_deduplicated_by_fingerprint(store: Store) -> None:
    run_with(store, [(identity(f"api-{i}"), tls_scan(f"10.0.0.{i}")) for i in range(5)])
    assert store.db.execute("SELECT count(*) FROM certificates").fetchone()[0] == 2
    assert store.db.execute("SELECT count(*) FROM chain_positions").fetchone()[0] == 10


def test_findings_first_last_seen_resolved_and_reopened(store: Store) -> None:
    weak = tls_scan()  # static RSA CBC suite on TLS 1.2 -> C6 (and C8)
    fixed = tls_scan(
        versions={"TLSv1.2": ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",), "TLSv1.3": ()}
    )
    day = timedelta(days=1)
    run_with(store, [(identity(), weak)], at=T0)
    run_with(store, [(identity(), weak)], at=T0 + day)
    row = store.db.execute(
        "SELECT first_seen, last_seen, resolved_at FROM findings WHERE rule_id = 'C6'"
    ).fetchone()
    assert row == ("2026-01-15T12:00:00Z", "2026-01-16T12:00:00Z", None)
    run_with(store, [(identity(), fixed)], at=T0 + 2 * day)
    assert store.db.execute("SELECT resolved_at FROM findings WHERE rule_id = 'C6'").fetchone()[
        0
    ] == ("2026-01-17T12:01:00Z")
    assert "C6" not in {
        r["rule_id"] for r in store.db.query("SELECT rule_id FROM current_findings")
    }
    run_with(store, [(identity(), weak)], at=T0 + 3 * day)
    row = store.db.execute(
        "SELECT first_seen, resolved_at FROM findings WHERE rule_id = 'C6'"
    ).fetchone()
    assert row == ("2026-01-15T12:00:00Z", None)


def test_failed_run_resolves_nothing(store: Store) -> None:
    run_with(store, [(identity(), tls_scan())])
    run_id = store.begin_run(
        agent_id="agent-a", mode="daemonset", started_at=T0 + timedelta(days=1)
    )
    store.record_endpoint_scan(run_id, identity(), tls_scan())
    store.finish_run(run_id, status="failed", error="cycle cut at deadline")
    assert (
        store.db.execute("SELECT count(*) FROM findings WHERE resolved_at IS NOT NULL").fetchone()[
            0
        ]
        == 0
    )


def test_unscanned_subjects_keep_their_findings(store: Store) -> None:
    run_with(store, [(identity("api-1"), tls_scan()), (identity("api-2"), tls_scan("10.0.0.2"))])
    run_with(store, [(identity("api-1"), tls_scan())], at=T0 + timedelta(days=1))
    open_subjects = {
        r[0]
        for r in store.db.execute(
            "SELECT DISTINCT subject_key FROM findings WHERE resolved_at IS NULL"
        )
    }
    assert any("api-2" in key for key in open_subjects)


def test_waiver_marks_finding_waived_and_expiry_reopens_it(store: Store) -> None:
    run_with(store, [(identity(), tls_scan())])
    waiver_id = store.add_waiver(
        rule_id="C6",
        subject_pattern="payments/*",
        reason="HSM client needs static RSA",
        approver="ciso@example.com",
        expires_at=T0 + timedelta(days=30),
        created_at=T0,
    )
    waived = store.db.execute(
        "SELECT waived, waiver_id FROM findings WHERE rule_id = 'C6'"
    ).fetchone()
    assert waived == (1, waiver_id)
    others = store.db.execute("SELECT sum(waived) FROM findings WHERE rule_id != 'C6'").fetchone()[
        0
    ]
    assert others == 0
    store.refresh_waivers(T0 + timedelta(days=31))
    assert store.db.execute("SELECT waived FROM findings WHERE rule_id = 'C6'").fetchone()[0] == 0
    assert store.waivers(now=T0 + timedelta(days=31)) == []
    assert len(store.waivers(include_inactive=True)) == 1


def test_removed_waiver_stays_as_evidence(store: Store) -> None:
    run_with(store, [(identity(), tls_scan())])
    waiver_id = store.add_waiver(
        rule_id="*",
        subject_pattern="*",
        reason="r",
        approver="a",
        expires_at=T0 + timedelta(days=3650),
    )
    assert store.db.execute("SELECT min(waived) FROM findings").fetchone()[0] == 1
    store.remove_waiver(waiver_id)
    assert store.db.execute("SELECT max(waived) FROM findings").fetchone()[0] == 0
    assert store.db.execute("SELECT removed_at IS NOT NULL FROM waivers").fetchone()[0] == 1
    with pytest.raises(StoreError, match="no active waiver"):
        store.remove_waiver(waiver_id)


def test_waiver_needs_every_field(store: Store) -> None:
    with pytest.raises(StoreError, match="reason"):
        store.add_waiver(rule_id="C6", subject_pattern="*", reason=" ", approver="a", expires_at=T0)


def test_prune_keeps_latest_runs_and_current_state(store: Store) -> None:
    ids = [run_with(store, [(identity(), tls_scan())], at=T0 + timedelta(days=i)) for i in range(5)]
    assert store.prune(2) == 3
    assert [r[0] for r in store.db.execute("SELECT id FROM runs ORDER BY id")] == ids[-2:]
    assert store.db.execute("SELECT count(*) FROM current_endpoints").fetchone()[0] == 1
    assert store.db.execute("SELECT count(*) FROM endpoint_scans").fetchone()[0] == 2
    assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
    assert store.prune(0) == 1  # the latest run is always kept
    assert store.db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_prune_repoints_endpoints_whose_latest_scan_went(store: Store) -> None:
    run_with(store, [(identity("gone"), tls_scan("10.0.0.9"))], at=T0)
    for day in (1, 2):
        run_with(store, [(identity(), tls_scan())], at=T0 + timedelta(days=day))
    store.prune(1)
    rows = dict(store.db.execute("SELECT pod, latest_scan_id FROM endpoints").fetchall())
    assert rows["gone"] is None and rows["api-1"] is not None


def test_mark_interrupted(store: Store) -> None:
    store.begin_run(agent_id="agent-a", mode="daemonset")
    assert store.mark_interrupted("agent-a") == 1
    assert store.db.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"


def test_error_rows_for_probe_and_run_errors(store: Store) -> None:
    run_id = store.begin_run(agent_id="agent-a", mode="daemonset")
    store.record_endpoint_scan(
        run_id,
        identity(),
        EndpointScan(host="10.0.0.1", port=443, transport=Transport.TIMEOUT, error="timed out"),
    )
    store.record_error(run_id, "list pods: 403 Forbidden", stage="discovery")
    store.finish_run(run_id, status="partial")
    assert store.db.execute("SELECT stage, message FROM errors ORDER BY id").fetchall() == [
        ("probe", "timed out"),
        ("discovery", "list pods: 403 Forbidden"),
    ]
    assert store.db.execute("SELECT error_count FROM runs").fetchone()[0] == 2


def test_recording_twice_in_a_run_is_a_clear_error(store: Store) -> None:
    run_id = store.begin_run(agent_id="agent-a", mode="daemonset")
    store.record_endpoint_scan(run_id, identity(), tls_scan())
    with pytest.raises(StoreError, match="already recorded"):
        store.record_endpoint_scan(run_id, identity(), tls_scan())


def test_findings_for_non_endpoint_subjects(store: Store) -> None:
    run_id = store.begin_run(agent_id="agent-a", mode="daemonset")
    finding = Finding(
        "V2",
        Severity.MEDIUM,
        ("3.7.4",),
        "vault_object",
        "kv-prod/secrets/db-password",
        "no expiry",
    )
    assert store.record_findings(run_id, [finding]) == 1
    store.finish_run(run_id, covered_subject_keys=[])
    assert store.db.execute("SELECT endpoint_id, resolved_at FROM findings").fetchone() == (
        None,
        None,
    )
    run_id = store.begin_run(agent_id="agent-a", mode="daemonset")
    store.finish_run(run_id, covered_subject_keys=["kv-prod/secrets/db-password"])
    assert store.db.execute("SELECT resolved_at IS NOT NULL FROM findings").fetchone()[0] == 1


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        ("not TLS; first bytes '220 ready s3cr3t-token'", "not TLS; first bytes <redacted>"),
        (
            "neither TLS nor text: first bytes 16030100ab00 (short)",
            "neither TLS nor text: first bytes <redacted> (short)",
        ),
        ("unexpected reply b'HTTP/1.1 400 token=abc'", "unexpected reply <bytes redacted>"),
        ("handshake failure: sslv3 alert", "handshake failure: sslv3 alert"),
    ],
)
def test_peer_bytes_in_prober_messages_are_not_stored(
    store: Store, message: str, kept: str
) -> None:
    run_id = store.begin_run(agent_id="agent-a", mode="daemonset")
    scan = EndpointScan(
        host="10.0.0.1", port=25, transport=Transport.PLAINTEXT, error=message, warnings=(message,)
    )
    store.record_endpoint_scan(run_id, identity(), scan)
    assert store.db.execute("SELECT error, warnings FROM endpoint_scans").fetchone() == (
        kept,
        f'["{kept}"]',
    )


def test_prune_of_one_agent_leaves_the_others(store: Store) -> None:
    for day in range(3):
        for agent in ("node-a", "node-b"):
            run_id = store.begin_run(
                agent_id=agent, mode="daemonset", started_at=T0 + timedelta(days=day)
            )
            store.finish_run(run_id)
    assert store.prune(1, agent_id="node-a") == 2
    remaining = store.db.execute(
        "SELECT agent_id, count(*) FROM runs GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert remaining == [("node-a", 1), ("node-b", 3)]
