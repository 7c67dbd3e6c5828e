"""The real agent starts with exactly the environment the chart renders, and answers the chart's probes.

The agent (`cryptoscope agent`, a subprocess) runs against the lab Kubernetes
API server on loopback. Three variables are the test's, not the chart's, and
are named here: the listen address (an ephemeral loopback port instead of
0.0.0.0:9443), the kubeconfig (a pod would use its in-cluster configuration)
and the paths of the database and kubelet directories (temporary directories,
set through the chart's own values). Key Vault is off: the test must not reach
Azure. The pod watch is off (agent.watch: false): stopping it waits for the
watch request in flight (up to apiTimeout + 5 s, which the chart's grace
period covers), and the agent's own tests cover the watch.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from inspector.lab.kube_api import KubeAPIServer
from tests.chart.rendering import Manifest, render

pytestmark = [pytest.mark.needs_helm, pytest.mark.slow]

DOWNWARD_API = {
    "spec.nodeName": "aks-pci-000000",
    "metadata.name": "audit-cryptoscope-x7k2p",
    "metadata.namespace": "cryptoscope",
}


def chart_environment(container: Manifest) -> dict[str, str]:
    return {
        e["name"]: e["value"]
        if "value" in e
        else DOWNWARD_API[e["valueFrom"]["fieldRef"]["fieldPath"]]
        for e in container["env"]
    }


def probe(port: int, path: str) -> int:
    """GET like the kubelet's HTTPS probe: TLS without verifying the certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def test_agent_starts_with_the_chart_env_and_answers_its_probes(tmp_path: Path) -> None:
    data_dir, pods_dir = tmp_path / "data", tmp_path / "kubelet-pods"
    data_dir.mkdir()
    pods_dir.mkdir()
    values = {
        "agent": {
            "db": str(data_dir / "cryptoscope.db"),
            "kubeletPodsDir": str(pods_dir),
            "keyvaultEnabled": False,
            "watch": False,
        }
    }
    container = render(values).agent_container()
    probes = {kind: container[kind]["httpGet"] for kind in ("livenessProbe", "readinessProbe")}
    assert {p["scheme"] for p in probes.values()} == {"HTTPS"}

    with KubeAPIServer() as api:
        environment = chart_environment(container)
        environment.update(
            CRYPTOSCOPE_LISTEN="127.0.0.1:0",
            CRYPTOSCOPE_KUBECONFIG=str(api.write_kubeconfig(tmp_path / "kubeconfig")),
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "inspector.cli", "--log-level", "INFO", "agent"],
            env={
                "PATH": os.environ.get("PATH", ""),
                "HOME": str(tmp_path),
                "TMPDIR": str(tmp_path),
                **environment,
            },
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines: queue.Queue[str] = queue.Queue()
        log: list[str] = []
        reader = threading.Thread(
            target=lambda: [lines.put(line) for line in process.stderr or ()], daemon=True
        )
        reader.start()
        try:
            port = None
            deadline = time.monotonic() + 90
            while port is None and time.monotonic() < deadline and process.poll() is None:
                try:
                    line = lines.get(timeout=1)
                except queue.Empty:
                    continue
                log.append(line)
                match = re.search(r"HTTPS endpoint on .* \(port (\d+)\)", line)
                port = int(match.group(1)) if match else None
            assert port, (
                f"the agent did not start its endpoint (exit {process.poll()}):\n{''.join(log)}"
            )

            assert probe(port, probes["livenessProbe"]["path"]) == 200
            statuses = []
            while time.monotonic() < deadline:
                statuses.append(probe(port, probes["readinessProbe"]["path"]))
                if statuses[-1] == 200:
                    break
                time.sleep(0.5)
            assert statuses[-1] == 200, f"never ready: {statuses}"
            assert probe(port, "/snapshot") == 401, "evidence needs a token"

            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
            reader.join(timeout=10)
    assert (data_dir / "cryptoscope.db").is_file(), "the database lives in the chart's data volume"
