"""A STARTTLS refusal is described (reply code, size), never quoted: a peer's words may carry secrets.

Real peers on loopback: an SMTP server that greets, then refuses at the EHLO or the
STARTTLS step with a reply whose text carries a canary; an LDAP server that refuses
StartTLS with the canary in its diagnosticMessage. Real prober, real store.
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
from agent.tls import ldap
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


def _ber(tag: int, content: bytes) -> bytes:
    assert len(content) < 0x80
    return bytes([tag, len(content)]) + content


#: ExtendedResponse (messageID 1): resultCode 52 unavailable, the canary as diagnosticMessage.
LDAP_REFUSAL = _ber(
    0x30,
    _ber(0x02, b"\x01")
    + _ber(
        0x78,
        _ber(0x0A, bytes([52])) + _ber(0x04, b"") + _ber(0x04, f"reason {CANARY}".encode()),
    ),
)


class RefusingLDAPServer(RefusingSMTPServer):
    """Answers LDAP's StartTLS extended request with a refusal; closes on anything else."""

    def __init__(self) -> None:
        super().__init__({})

    def dialog(self, conn: socket.socket) -> None:
        if conn.recv(4096) == ldap.STARTTLS_REQUEST:
            conn.sendall(LDAP_REFUSAL)


@pytest.fixture(params=[*sorted(DIALOGS), "ldap-refused"])
def refusing_server(request: pytest.FixtureRequest) -> Iterator[RefusingSMTPServer]:
    server = (
        RefusingLDAPServer()
        if request.param == "ldap-refused"
        else RefusingSMTPServer(DIALOGS[request.param])
    )
    yield server
    server.close()


def test_starttls_refusal_never_quoted_logged_or_stored(
    refusing_server: RefusingSMTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    [scan] = scan_sync(
        [Target("127.0.0.1", refusing_server.port)],
        ScanOptions(connect_timeout=3, read_timeout=3),
    )
    assert scan.transport.value == "plaintext"
    message = " ".join([*scan.warnings, scan.error or ""])
    # the refusal is described: the SMTP reply code, or the LDAP result code by name
    assert ("no STARTTLS" in message and "reply " in message) or (
        "LDAP without StartTLS" in message and "unavailable" in message
    )
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
