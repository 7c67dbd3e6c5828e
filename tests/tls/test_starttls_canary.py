"""A STARTTLS refusal is described (reply code, size), never quoted: a peer's words may carry secrets.

Real peer on loopback: an SMTP server that greets, then refuses at the EHLO or the
STARTTLS step with a reply whose text carries a canary. Real prober, real store.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.store import EndpointIdentity, Store
from agent.tls.model import ScanOptions, Target
from agent.tls.prober import scan_sync

CANARY = "CANARY-5be1d07a-do-not-store"

pytestmark = pytest.mark.timeout(120)

#: What the server answers to each command (the greeting is always sent first).
DIALOGS = {
    "ehlo-without-starttls": {b"EHLO": f"250-ready\r\n250 AUTH token={CANARY}\r\n".encode()},
    "starttls-refused": {
        b"EHLO": b"250-ready\r\n250 STARTTLS\r\n",
        b"STARTTLS": f"454 TLS unavailable, password={CANARY}\r\n".encode(),
    },
}


class RefusingSMTPServer:
    """Greets with 220, answers EHLO / STARTTLS from `answers`, closes on anything else."""

    def __init__(self, answers: dict[bytes, bytes]) -> None:
        self.answers = answers
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    self.dialog(conn)

    def dialog(self, conn: socket.socket) -> None:
        conn.sendall(b"220 mail ESMTP\r\n")
        buffered = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buffered += data
            while b"\r\n" in buffered:
                line, buffered = buffered.split(b"\r\n", 1)
                answer = self.answers.get(line.split(b" ", 1)[0].upper())
                if answer is None:
                    return  # a ClientHello or anything else: hang up
                conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture(params=sorted(DIALOGS))
def smtp_server(request: pytest.FixtureRequest) -> Iterator[RefusingSMTPServer]:
    server = RefusingSMTPServer(DIALOGS[request.param])
    yield server
    server.close()


def test_starttls_refusal_never_quoted_logged_or_stored(
    smtp_server: RefusingSMTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    [scan] = scan_sync(
        [Target("127.0.0.1", smtp_server.port)], ScanOptions(connect_timeout=3, read_timeout=3)
    )
    assert scan.transport.value == "plaintext"
    message = " ".join([*scan.warnings, scan.error or ""])
    assert "no STARTTLS" in message and "reply " in message  # the refusal is described
    db = tmp_path / "starttls-canary.db"
    with Store.open(db) as store:
        run_id = store.begin_run(agent_id="canary", mode="sidecar")
        store.record_endpoint_scan(run_id, EndpointIdentity(ip=scan.host, port=scan.port), scan)
        store.finish_run(run_id)
    blobs = [message.encode(), caplog.text.encode()]
    blobs += [path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()]
    pieces = [CANARY[i : i + 10].encode() for i in range(0, len(CANARY) - 10)]
    for blob in blobs:
        for piece in pieces:
            assert piece not in blob
