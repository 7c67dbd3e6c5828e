"""TLS 1.3 groups from a server that refuses a ClientHello with an empty key_share.

Some TLS 1.3 stacks answer an empty key_share with an alert instead of a HelloRetryRequest.
The peer here is a real pyOpenSSL server that behaves that way: before OpenSSL reads the
ClientHello it peeks at it (the bytes stay in the socket), and refuses it with a
handshake_failure alert when its key_share lists no share. The groups must still be found.
"""

from __future__ import annotations

import socket
import time

import pytest

from agent.tls.model import Target
from inspector.lab.tls_catalogue import LabPems
from inspector.lab.tls_servers import PyOpenSSLServer
from tests.tls.conftest import scan, started

IANA = {"P-384": "secp384r1", "X25519": "x25519"}
HANDSHAKE_FAILURE_ALERT = bytes.fromhex("15030300020228")


def key_share_count(record: bytes) -> int | None:
    """Client shares in a ClientHello record's key_share extension; None without the extension."""
    body = record[5 + 4 :]  # record header, handshake header
    offset = 2 + 32  # legacy_version, random
    offset += 1 + body[offset]  # session id
    offset += 2 + int.from_bytes(body[offset : offset + 2], "big")  # cipher suites
    offset += 1 + body[offset]  # compression methods
    end = offset + 2 + int.from_bytes(body[offset : offset + 2], "big")
    offset += 2
    while offset < end:
        kind = int.from_bytes(body[offset : offset + 2], "big")
        size = int.from_bytes(body[offset + 2 : offset + 4], "big")
        data = body[offset + 4 : offset + 4 + size]
        if kind == 51:
            shares, position, count = data[2:], 0, 0
            while position < len(shares):
                position += 4 + int.from_bytes(shares[position + 2 : position + 4], "big")
                count += 1
            return count
        offset += 4 + size
    return None


class NoRetryServer(PyOpenSSLServer):
    """pyOpenSSL, but a ClientHello without any key share is refused (no HelloRetryRequest)."""

    name = "no-hello-retry"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.refused = 0

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        record = b""
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                record = conn.recv(16384 + 5, socket.MSG_PEEK)
                if not record or (
                    len(record) >= 5 and len(record) >= 5 + int.from_bytes(record[3:5], "big")
                ):
                    break
                time.sleep(0.01)
            if record[:1] == b"\x16" and key_share_count(record) == 0:
                self.refused += 1
                conn.sendall(HANDSHAKE_FAILURE_ALERT)
                return
        except (OSError, IndexError):
            return
        super().handle(conn)


@pytest.mark.parametrize(
    "groups",
    (
        "P-384:X25519MLKEM768:X25519:ffdhe3072",
        # none of the widely deployed groups: the rarer tiers of key shares are needed
        "SecP384r1MLKEM1024:brainpoolP256r1tls13:ffdhe4096",
    ),
)
def test_groups_of_a_server_that_refuses_an_empty_key_share(lab_pki: LabPems, groups: str) -> None:
    configured = {IANA.get(name, name) for name in groups.split(":")}
    server = NoRetryServer(
        lab_pki.ec,
        min_version="TLSv1.3",
        groups=groups,
        server_preference=True,
    )
    with started(server):
        result = scan([Target(server.host, server.port)])[(server.host, server.port)].result
        refused = server.refused
    assert refused >= 1  # the fallback path really ran
    assert result.error is None
    assert result.protocols["TLSv1.3"].accepted
    assert set(result.groups_by_version["TLSv1.3"]) == configured
    assert not [w for w in result.warnings if "groups" in w], result.warnings
