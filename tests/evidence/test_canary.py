"""Canary values in scanned material never reach the database, the logs, reports or exports.

Real peers on loopback: a plaintext service whose banner carries a canary, a
plaintext HTTP server, and a TLS server whose private key (a canary of its
own: key material) must never be stored. Real prober, real store, real CLI.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.rules import evaluate_endpoint
from agent.store import EndpointIdentity, Store
from agent.tls.model import ScanOptions, Target
from agent.tls.prober import scan_sync
from inspector.cli import main
from inspector.lab import pki
from inspector.lab.tls_servers import BannerServer, PlainHTTPServer, PyOpenSSLServer

CANARY = "CANARY-7f3a9c1e-do-not-store"

pytestmark = pytest.mark.timeout(120)


class CanaryGarbageServer:
    """Answers a ClientHello with bytes that are not TLS and carry the canary."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    conn.sendall(f"SECRET={CANARY}\r\n".encode() * 4)
                except OSError:
                    pass

    def close(self) -> None:
        self.stopping = True
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[dict[str, object]]:
    root = pki.make_ca()
    leaf = pki.make_leaf(root, common_name="localhost")
    pem = pki.write_pem_files(tmp_path / "pki", "tls", leaf, (), root)
    garbage = CanaryGarbageServer()
    with (
        BannerServer(banner=f"220 ready {CANARY}\r\n".encode()) as banner,
        PlainHTTPServer() as http,
        PyOpenSSLServer(pem, min_version="TLSv1.2") as tls,
    ):
        yield {
            "banner": banner,
            "http": http,
            "tls": tls,
            "garbage": garbage,
            "key_pem": leaf.key_pem,
            "ca": pem.ca,
        }
    garbage.close()


def key_fragments(key_pem: bytes) -> list[bytes]:
    """Pieces of the private key as they could leak: PEM lines and raw DER slices."""
    lines = [line for line in key_pem.splitlines() if line and not line.startswith(b"-----")]
    der = base64.b64decode(b"".join(lines))
    return [line for line in lines if len(line) >= 16] + [
        der[i : i + 16] for i in range(8, len(der) - 16, 16)
    ]


def test_canaries_never_stored_logged_or_exported(
    peers: dict[str, object],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    targets = [
        Target("127.0.0.1", peers[name].port)
        for name in ("banner", "http", "tls", "garbage")  # type: ignore[attr-defined]
    ]
    scans = scan_sync(
        targets, ScanOptions(connect_timeout=3, read_timeout=3, ca_file=str(peers["ca"]))
    )
    assert {scan.transport.value for scan in scans} >= {"tls", "plaintext-http", "plaintext"}
    # the prober describes a non-TLS answer without quoting it (the store redacts quotes as well)
    assert not any("CANARY" in " ".join(scan.warnings) + (scan.error or "") for scan in scans)
    db = tmp_path / "canary.db"
    with Store.open(db) as store:
        run_id = store.begin_run(agent_id="canary", mode="sidecar")
        for scan in scans:
            identity = EndpointIdentity(ip=scan.host, port=scan.port)
            store.record_endpoint_scan(run_id, identity, scan)
            store.record_findings(run_id, evaluate_endpoint(scan, identity.subject_key))
        store.finish_run(run_id)
    outputs = []
    for argv in (
        ["report", "inventory", "--format", "json"],
        ["report", "findings", "--include-resolved"],
        ["export", "--out", str(tmp_path / "snapshot")],
    ):
        assert main(["--log-level", "DEBUG", *argv, "--db", str(db)]) == 0
        captured = capsys.readouterr()
        outputs += [captured.out, captured.err]
    blobs = [
        path.read_bytes()
        for path in tmp_path.rglob("*")
        if path.is_file() and "pki" not in path.parts
    ]
    blobs += [text.encode() for text in outputs] + [caplog.text.encode()]
    assert any(
        b"canary.db" in blob or b"cryptoscope.db" in blob for blob in blobs
    )  # we did look at files
    # any 10-character piece of the canary would be a leak (messages quote peers' first bytes)
    pieces = [CANARY[i : i + 10].encode() for i in range(0, len(CANARY) - 10)]
    forbidden = [*pieces, *key_fragments(peers["key_pem"])]  # type: ignore[arg-type]
    for blob in blobs:
        for needle in forbidden:
            assert needle not in blob
