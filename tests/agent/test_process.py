"""`cryptoscope agent` as a real process: --once, bad settings (exit 2), SIGTERM mid-cycle (exit 0)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.lab import pki
from inspector.lab.kube_api import KubeAPIServer
from inspector.lab.tls_servers import PyOpenSSLServer, SilentServer

pytestmark = pytest.mark.timeout(180)


def agent_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "inspector", "--log-level", "INFO", "agent", *args]


def clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CRYPTOSCOPE_")
        and key not in ("NODE_NAME", "KUBERNETES_SERVICE_HOST")
    }


def test_bad_settings_exit_2_with_the_reason(tmp_path: Path) -> None:
    done = subprocess.run(
        agent_command("--mode", "daemonset", "--db", str(tmp_path / "a.db")),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert done.returncode == 2 and "NODE_NAME" in done.stderr
    env = clean_env() | {"CRYPTOSCOPE_SCAN_INTERVAL": "soon"}
    done = subprocess.run(
        agent_command("--node-name", "n1"), capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2 and "CRYPTOSCOPE_SCAN_INTERVAL" in done.stderr


def test_once_runs_one_cycle_against_a_kubeconfig(tmp_path: Path, kube_api: KubeAPIServer) -> None:
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig", token="agent-token")
    db = tmp_path / "agent.db"
    done = subprocess.run(
        agent_command(
            "--once", "--mode", "cluster", "--kubeconfig", str(kubeconfig), "--db", str(db)
        ),
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT mode, status FROM runs").fetchall() == [("cluster", "ok")]


def test_sigterm_mid_cycle_finishes_the_write_and_exits_0(
    tmp_path: Path, kube_api: KubeAPIServer
) -> None:
    root = pki.make_ca()
    pem = pki.write_pem_files(tmp_path, "fast", pki.make_leaf(root), (), root)
    with PyOpenSSLServer(pem, min_version="TLSv1.2") as fast, SilentServer() as silent:
        # first chunk (2 x concurrency = 4 targets): a real TLS peer under 4 names; then peers that never answer
        egress = [f"127.0.0.1:{fast.port}/fast{index}.example" for index in range(4)]
        egress += [f"127.0.0.1:{silent.port}/silent{index}.example" for index in range(4)]
        kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
        db = tmp_path / "agent.db"
        process = subprocess.Popen(
            agent_command(
                "--mode",
                "cluster",
                "--kubeconfig",
                str(kubeconfig),
                "--db",
                str(db),
                "--listen",
                "127.0.0.1:0",
                "--concurrency",
                "2",
                "--connect-timeout",
                "60",
                "--read-timeout",
                "60",
                "--endpoint-deadline",
                "120",
                "--watch",
                "false",
                "--egress-targets",
                ",".join(egress),
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
        try:
            deadline = time.monotonic() + 120
            written = 0
            while time.monotonic() < deadline and process.poll() is None:
                if db.exists():
                    try:
                        with sqlite3.connect(db, timeout=5) as conn:
                            written = conn.execute(
                                "SELECT count(*) FROM endpoint_scans"
                            ).fetchone()[0]
                    except sqlite3.OperationalError:
                        written = 0
                if written >= 4:
                    break
                time.sleep(0.2)
            assert written == 4, "the first chunk was not written in time"
            while (
                silent.accepted < 1 and time.monotonic() < deadline
            ):  # probing the silent chunk now
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status, endpoint_count FROM runs").fetchall() == [
            ("interrupted", 4)
        ]
        assert conn.execute("SELECT message FROM errors").fetchall() == [
            ("stopped: 4 endpoints not probed",)
        ]


def test_the_agent_process_serves_health_metrics_and_an_authorised_snapshot(
    tmp_path: Path, kube_api: KubeAPIServer
) -> None:
    import re
    import ssl
    import urllib.request

    kube_api.add_token("operator-token", "operator", groups=["auditors"])
    kube_api.grant("auditors", "get", "snapshots", group="cryptoscope.io", namespace="cryptoscope")
    kubeconfig = kube_api.write_kubeconfig(tmp_path / "kubeconfig")
    env = clean_env() | {
        "POD_NAMESPACE": "cryptoscope",
        "POD_NAME": "cryptoscope-agent-x",
        "NODE_NAME": "node-a",
    }
    process = subprocess.Popen(
        agent_command(
            "--kubeconfig",
            str(kubeconfig),
            "--db",
            str(tmp_path / "agent.db"),
            "--listen",
            "127.0.0.1:0",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        port = None
        for line in process.stderr:
            found = re.search(r"HTTPS endpoint on .* \(port (\d+)\)", line)
            if found:
                port = int(found.group(1))
                break
        assert port, "the agent never said where it listens"
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # self-signed at start

        def get(path: str, token: str | None = None) -> tuple[int, bytes, dict[str, str]]:
            request = urllib.request.Request(f"https://127.0.0.1:{port}{path}")
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(request, context=context, timeout=30) as response:
                    return response.status, response.read(), dict(response.headers)
            except urllib.error.HTTPError as error:
                return error.code, error.read(), dict(error.headers)

        deadline = time.monotonic() + 90
        while get("/readyz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert get("/readyz")[0] == 200 and get("/healthz")[0] == 200
        assert b'cryptoscope_cycles_total{status="ok"} 1.0' in get("/metrics")[1]
        assert get("/snapshot")[0] == 401
        status, body, headers = get("/snapshot", "operator-token")
        assert status == 200 and body.startswith(b"SQLite format 3\x00")
        assert (
            headers["X-Cryptoscope-Agent"] == "cryptoscope-agent-x"
            and headers["X-Cryptoscope-Node"] == "node-a"
        )
        process.send_signal(signal.SIGTERM)
        # within Kubernetes' default 30 s grace period, even with the watch open
        process.wait(timeout=25)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()
