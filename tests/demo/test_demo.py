"""`cryptoscope demo --no-tui` end to end, as a user runs it: a child process, a real cycle, a clean exit.

The expectations come from what each demo server really is (a TLS 1.0 server
must yield the TLS 1.0 finding, a plaintext port the plaintext finding, …), read
back from the database the demo wrote with plain SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from inspector.demo.backends import postgres_bindir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
#: Generous: the machine is shared; we assert behaviour, never speed.
DEMO_TIMEOUT_S = 300


@dataclass
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path

    @property
    def state(self) -> dict:
        return json.loads((self.workdir / "demo.json").read_text())

    def query(self, sql: str, *params: object) -> list[tuple]:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.workdir / 'cryptoscope.db'}?mode=ro", uri=True)
        ) as conn:
            return conn.execute(sql, params).fetchall()


def _demo_command(workdir: Path) -> list[str]:
    return [sys.executable, "-m", "inspector", "demo", "--no-tui", "--workdir", str(workdir)]


def _environment() -> dict[str, str]:
    return {
        key: value for key, value in os.environ.items() if not key.startswith(("KUBE", "AZURE_"))
    }


def _run_demo(workdir: Path) -> DemoRun:
    completed = subprocess.run(
        _demo_command(workdir),
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        start_new_session=True,
    )
    return DemoRun(completed.returncode, completed.stdout, completed.stderr, workdir)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _accepts(address: str) -> bool:
    """`address` is host:port, or a URL (its path is ignored)."""
    address = address.split("/", 1)[0]
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return True
    except OSError:
        return False


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment names `text` (e.g. the demo's work directory)."""
    needle = text.encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if (
                needle in (proc / "cmdline").read_bytes()
                or needle in (proc / "environ").read_bytes()
            ) and _alive(int(proc.name)):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def _assert_everything_stopped(state: dict) -> None:
    assert state["children"] or state["endpoints"], "the demo recorded nothing it started"
    deadline = time.monotonic() + 30
    alive = [pid for pid in state["children"] if _alive(pid)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in alive if _alive(pid)]
    assert not alive, f"child processes left running: {alive}"
    listening = [address for address in state["endpoints"].values() if _accepts(address)]
    for url in state["services"].values():
        address = url.split("://", 1)[-1]
        if _accepts(address):
            listening.append(address)
    assert not listening, f"still listening after the demo exited: {listening}"
    strays = _processes_mentioning(state["workdir"])
    assert not strays, f"processes still using the demo's work directory: {strays}"


# ------------------------------------------------------------------------------ one real run


def _check_demo_completes_a_cycle_and_prints_progress(demo: DemoRun) -> None:
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    lines = demo.stdout.splitlines()
    steps = [line for line in lines if line.startswith("[")]
    assert [line.split("]")[0] for line in steps] == [f"[{n}/8" for n in range(1, 9)], steps
    assert "FAILED" not in demo.stdout
    assert demo.state["phase"] == "stopped"
    assert (demo.workdir / "cryptoscope.db").is_file()


def _check_every_pod_port_was_probed(demo: DemoRun) -> None:
    rows = demo.query("SELECT namespace, workload_name, port, transport FROM current_endpoints")
    seen = {(namespace, name): transport for namespace, name, _, transport in rows}
    expected_transports = {
        ("payments", "checkout-api"): {"tls"},
        ("payments", "refund-api"): {"tls"},
        ("web", "public-gateway-istio"): {"tls"},
        ("payments", "card-gateway-legacy"): {"tls"},
        ("payments", "tokenizer"): {"tls-client-cert-required"},
        ("web", "promo-banner"): {"tls"},
        ("ops", "backup-runner"): {"plaintext-http"},
        ("ops", "grafana"): {"tls"},
    }
    for key, transports in expected_transports.items():
        assert seen.get(key) in transports, (key, seen.get(key))
    storefront = {transport for namespace, name, _, transport in rows if name == "storefront"}
    assert storefront == {"tls", "plaintext-http"}
    if postgres_bindir() is not None:
        assert seen.get(("payments", "ledger-db")) == "starttls-postgres"
    else:
        assert "PostgreSQL is not installed" in demo.stdout


def _check_post_quantum_hybrid_seen_only_where_served(demo: DemoRun) -> None:
    rows = demo.query(
        "SELECT DISTINCT e.workload_name FROM current_accepted_groups g "
        "JOIN current_endpoints e ON e.endpoint_id = g.endpoint_id WHERE g.group_name = 'X25519MLKEM768'"
    )
    assert {name for (name,) in rows} == {"storefront", "grafana"}


def _open_findings(demo: DemoRun, namespace: str) -> set[tuple[str, str]]:
    """(rule id, subject key) of every open finding in a namespace (subject keys start with it)."""
    rows = demo.query(
        "SELECT rule_id, subject_key FROM findings WHERE resolved_at IS NULL AND subject_key LIKE ? || '/%'",
        namespace,
    )
    return {(rule_id, subject_key) for rule_id, subject_key in rows}


def _fired(findings: set[tuple[str, str]], rule: str, workload: str) -> bool:
    """The rule fired on a subject of this workload (endpoint ``ns/Kind/name/pod@…`` or mount ``ns/pod/…``)."""
    return any(
        rule_id == rule
        and subject.split("/")[1:3]
        and (subject.split("/")[2] == workload or subject.split("/")[1].startswith(workload + "-"))
        for rule_id, subject in findings
    )


def _check_payments_findings(demo: DemoRun) -> None:
    found = _open_findings(demo, "payments")
    # TLS 1.0 only, static RSA, CBC, no TLS 1.3 on the legacy gateway
    for rule in ("P2", "C6", "C8", "P5"):
        assert _fired(found, rule, "card-gateway-legacy"), (rule, sorted(found))
    # modern TLS 1.3 without a post-quantum group: only the trend item
    assert _fired(found, "Q1", "checkout-api")
    assert not _fired(found, "P2", "checkout-api") and not _fired(found, "P5", "checkout-api")
    # Key Vault: the API key is pinned to an old version, the signing key's version expired
    assert _fired(found, "V5", "card-gateway-legacy")
    assert _fired(found, "V3", "card-gateway-legacy")
    # the tokenizer's key has no expiry and is synced into a Kubernetes Secret
    assert _fired(found, "V2", "tokenizer")
    assert _fired(found, "V8", "tokenizer")
    # the current, rotated certificate of checkout-api raises no version finding
    assert not any(_fired(found, rule, "checkout-api") for rule in ("V2", "V3", "V5"))


def _check_web_findings(demo: DemoRun) -> None:
    found = _open_findings(demo, "web")
    assert _fired(found, "P7", "storefront")  # the plaintext metrics port …
    waived = demo.query(
        "SELECT status, waiver_approver FROM current_findings WHERE rule_id = 'P7' AND subject_key LIKE 'web/%'"
    )
    assert waived == [("waived", "security-officer@demo.invalid")]  # … under the demo's waiver
    assert _fired(found, "K6", "promo-banner")  # expires in days
    assert not _fired(found, "Q1", "storefront")  # it serves X25519MLKEM768


def _check_ops_findings(demo: DemoRun) -> None:
    found = _open_findings(demo, "ops")
    assert _fired(found, "P7", "backup-runner")
    assert _fired(found, "V7", "backup-runner")  # service-principal credentials in a Secret
    assert _fired(found, "V14", "grafana")  # the node's managed identity
    assert _fired(found, "V15", "grafana")  # a 0644 secret file


def _check_gateway_routes_were_probed_with_their_sni(demo: DemoRun) -> None:
    """Each HTTPRoute hostname is an endpoint on the data plane, served its own certificate."""
    rows = demo.query(
        "SELECT namespace, workload_name, ip, sni, transport, hostname_match, leaf_sha256 "
        "FROM current_endpoints WHERE workload_kind = 'HTTPRoute'"
    )
    data_plane = demo.state["endpoints"]["web/public-gateway-istio/https"]
    assert sorted(row[3] for row in rows) == ["api.storefront.example", "www.storefront.example"], (
        rows
    )
    for namespace, name, ip, sni, transport, hostname_match, _ in rows:
        assert (namespace, transport, hostname_match) == ("web", "tls", 1), (sni, rows)
        assert ip == data_plane.rsplit(":", 1)[0]
        assert name == "storefront-" + sni.split(".")[0]
    # one certificate per hostname, and neither is the data plane's own
    own = demo.query(
        "SELECT leaf_sha256 FROM current_endpoints WHERE workload_name = 'public-gateway-istio'"
    )
    leaves = {row[6] for row in rows}
    assert len(leaves) == 2 and not leaves & {leaf for (leaf,) in own}


def _check_csi_driver_rotation_off(demo: DemoRun) -> None:
    rows = demo.query(
        "SELECT rule_id, subject_key FROM findings WHERE resolved_at IS NULL AND rule_id = 'V6'"
    )
    assert rows == [("V6", "csi-driver:kube-system/aks-secrets-store-csi-driver")]
    assert "V6   Secrets Store CSI driver rotation disabled" in demo.stdout


def _check_revocation_and_stapling(demo: DemoRun) -> None:
    responder = urllib.parse.urlsplit(demo.state["services"]["ocsp"])
    # the revoked leaf: K7 on refund-api only, answered by the demo's loopback responder
    assert _fired(_open_findings(demo, "payments"), "K7", "refund-api")
    k7 = demo.query("SELECT subject_key FROM findings WHERE resolved_at IS NULL AND rule_id = 'K7'")
    assert [key.split("/")[2] for (key,) in k7] == ["refund-api"], k7
    checks = demo.query(
        "SELECT e.workload_name, r.position, r.status, r.method, r.url, r.reason "
        "FROM current_chain_revocation r JOIN current_endpoints e ON e.endpoint_id = r.endpoint_id"
    )
    by_workload = {
        name: (status, method, url, reason) for name, _, status, method, url, reason in checks
    }
    assert by_workload["refund-api"][:2] == ("revoked", "ocsp")
    assert by_workload["refund-api"][3] == "keyCompromise"
    # checkout-api staples: answered by the staple, verified, good
    assert by_workload["checkout-api"][:2] == ("good", "ocsp-staple")
    staples = demo.query(
        "SELECT e.workload_name, s.status, s.verified FROM current_ocsp_staples s "
        "JOIN current_endpoints e ON e.endpoint_id = s.endpoint_id WHERE s.stapled = 1"
    )
    assert staples == [("checkout-api", "good", 1)]
    # every other TLS leaf was asked of the responder and is good; only loopback was reached
    assert {status for status, *_ in by_workload.values()} == {"good", "revoked"}
    for _status, _method, url, _ in by_workload.values():
        if url:  # the only URL any check fetched: the demo CA's responder
            host = urllib.parse.urlsplit(url).hostname
            assert (host, urllib.parse.urlsplit(url).port) == (
                responder.hostname,
                responder.port,
            )
            assert host is not None and host.startswith("127.")


async def _overview_secrets_subtitle(db: Path) -> str:
    from textual.widgets import DataTable

    from inspector.tui.app import CryptoscopeApp
    from tests.tui.conftest import SIZE, settle

    app = CryptoscopeApp(db, refresh_interval=0, save_dir=db.parent)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        return str(app.screen.query_one("#panel-secrets", DataTable).border_subtitle)


def _check_the_tui_overview_says_csi_rotation_off(demo: DemoRun) -> None:
    subtitle = asyncio.run(_overview_secrets_subtitle(demo.workdir / "cryptoscope.db"))
    assert "✖ CSI rotation off" in subtitle, subtitle


def _check_the_agent_reached_the_loopback_vault(demo: DemoRun) -> None:
    log = (demo.workdir / "agent.log").read_text()
    assert "DefaultAzureCredential failed" not in log, log[-2000:]
    errors = demo.query("SELECT stage, message FROM errors WHERE stage IN ('keyvault', 'secrets')")
    assert not errors, errors


def _check_no_mounted_secret_value_reaches_the_evidence(demo: DemoRun) -> None:
    """The mounted opaque values (``demo-not-a-real-secret-…``) live only in the kubelet tree."""
    kubelet = demo.workdir / "kubelet"
    assert any(
        b"demo-not-a-real-secret" in path.read_bytes()
        for path in kubelet.rglob("*")
        if path.is_file()
    )
    leaked = [
        str(path)
        for path in demo.workdir.rglob("*")
        if path.is_file()
        and kubelet not in path.parents
        and b"demo-not-a-real-secret" in path.read_bytes()
    ]
    assert not leaked, f"a secret value reached {leaked}"


def _check_reports_and_verified_evidence(demo: DemoRun) -> None:
    files = demo.state["files"]
    evidence = Path(files["evidence"])
    assert (evidence / "manifest.json").is_file()
    assert (evidence / "manifest.json.sig").is_file()  # signed with the demo's keygen pair
    inventory = Path(files["inventory report"]).read_text()
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in inventory  # the legacy gateway's suite, inventoried
    keys = Path(files["keys report"]).read_text()
    assert "gateway-signing-key" in keys
    assert "snapshot verified" in demo.stdout
    assert str(evidence) in demo.stdout


def _check_everything_it_started_is_stopped(demo: DemoRun) -> None:
    _assert_everything_stopped(demo.state)


def test_demo_no_tui_end_to_end(tmp_path: Path) -> None:
    """One real run (a single run keeps the area's budget under xdist); each check says what failed."""
    demo = _run_demo(tmp_path)
    _check_demo_completes_a_cycle_and_prints_progress(demo)
    _check_every_pod_port_was_probed(demo)
    _check_post_quantum_hybrid_seen_only_where_served(demo)
    _check_payments_findings(demo)
    _check_web_findings(demo)
    _check_ops_findings(demo)
    _check_gateway_routes_were_probed_with_their_sni(demo)
    _check_csi_driver_rotation_off(demo)
    _check_revocation_and_stapling(demo)
    _check_the_tui_overview_says_csi_rotation_off(demo)
    _check_the_agent_reached_the_loopback_vault(demo)
    _check_no_mounted_secret_value_reaches_the_evidence(demo)
    _check_reports_and_verified_evidence(demo)
    _check_everything_it_started_is_stopped(demo)


# ------------------------------------------------------------------------------------ interrupted


def _wait_for_phase(workdir: Path, phases: set[str], process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + DEMO_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, "the demo ended before it could be interrupted"
        try:
            phase = json.loads((workdir / "demo.json").read_text())["phase"]
        except (OSError, ValueError, KeyError):
            phase = ""
        if phase in phases:
            return phase
        time.sleep(0.02)
    raise AssertionError(f"the demo never reached {phases}")


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    process = subprocess.Popen(
        _demo_command(tmp_path),
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, tmp_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_ctrl_c_during_the_agent_cycle_stops_everything(
    running_demo: tuple[subprocess.Popen[str], Path],
) -> None:
    process, workdir = running_demo
    signum = signal.SIGINT
    _wait_for_phase(workdir, {"agent"}, process)
    state_before = json.loads((workdir / "demo.json").read_text())
    process.send_signal(signum)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, output
    state = json.loads((workdir / "demo.json").read_text())
    assert state["phase"] == "interrupted", output
    assert "everything the demo started has been stopped" in output
    state["children"] = sorted(set(state["children"]) | set(state_before["children"]))
    _assert_everything_stopped(state)


def test_keep_running_serves_until_sigterm_and_another_cycle_works(tmp_path: Path) -> None:
    """--keep-running: the cluster stays up (a second agent cycle by hand works); SIGTERM stops it all."""
    process = subprocess.Popen(
        [*_demo_command(tmp_path), "--keep-running"],
        cwd=ROOT,
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for_phase(tmp_path, {"running"}, process)
        state = json.loads((tmp_path / "demo.json").read_text())
        assert all(_accepts(address) for address in state["endpoints"].values())
        # One more agent cycle by hand, with the environment the demo wrote for it.
        agent_env = dict(
            line.split("=", 1)
            for line in Path(state["files"]["agent_env"]).read_text().splitlines()
        )
        cycle = subprocess.run(
            [sys.executable, "-m", "inspector", "agent"],
            cwd=ROOT,
            env={**_environment(), **agent_env},
            capture_output=True,
            text=True,
            timeout=DEMO_TIMEOUT_S,
        )
        assert cycle.returncode == 0, cycle.stdout + cycle.stderr
        assert "DefaultAzureCredential failed" not in cycle.stderr, cycle.stderr[-2000:]
        with contextlib.closing(
            sqlite3.connect(f"file:{tmp_path / 'cryptoscope.db'}?mode=ro", uri=True)
        ) as conn:
            runs = conn.execute("SELECT status FROM runs ORDER BY id").fetchall()
        assert [status for (status,) in runs] == ["ok", "ok"]
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, output
    final = json.loads((tmp_path / "demo.json").read_text())
    assert final["phase"] == "stopped"
    _assert_everything_stopped(final)
