"""Broken and hostile TLS peers: each reads the ClientHello, then misbehaves.

A scanner must turn every one into an error record with a reason, in bounded time.
"""

from __future__ import annotations

import enum
import random
import socket
import struct
import time

from inspector.lab.loopback import LOOPBACK_V4, ThreadedServer, hold_until_closed, recv_some


class Hostility(enum.StrEnum):
    """How a :class:`HostileServer` misbehaves after reading the ClientHello."""

    #: Binary junk that is not a TLS record at all.
    GARBAGE = "garbage"
    #: A handshake record header announcing more bytes than are sent, then FIN.
    TRUNCATED_RECORD = "truncated-record"
    #: A handshake record whose length exceeds the 2^14 + 2048 limit of RFC 5246.
    OVERSIZED_RECORD = "oversized-record"
    #: A well-formed record carrying a Certificate where a ServerHello must come.
    WRONG_HANDSHAKE_TYPE = "wrong-handshake-type"
    #: A plausible ServerHello, one byte every `drip_interval` seconds.
    SLOW_DRIP = "slow-drip"
    #: Half a ServerHello, then a TCP reset (SO_LINGER 0).
    RESET_MID_HELLO = "reset-mid-hello"
    #: Handshake records forever, announcing a 16 MiB ServerHello.
    ENDLESS_STREAM = "endless-stream"


def _record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def _handshake(msg_type: int, body: bytes) -> bytes:
    return struct.pack("!B", msg_type) + len(body).to_bytes(3, "big") + body


def plausible_server_hello() -> bytes:
    """A TLS 1.2 ServerHello record choosing TLS_RSA_WITH_AES_128_CBC_SHA (0x002F)."""
    body = (
        struct.pack("!H", 0x0303)
        + bytes(range(32))
        + b"\x00"
        + struct.pack("!HB", 0x002F, 0)
        + b"\x00\x00"
    )
    return _record(22, _handshake(2, body))


def _garbage() -> bytes:
    # Fixed seed: the same junk every run. First byte 0x00 is no TLS content type,
    # and the junk is not text (so it is not a plaintext protocol either).
    rng = random.Random(0x5EED)
    return b"\x00\xff\x01\xfe" + bytes(rng.randrange(0, 256) for _ in range(252))


class HostileServer(ThreadedServer):
    """A TLS peer that reads the ClientHello, then misbehaves as `behaviour` says."""

    name = "hostile"

    def __init__(
        self,
        behaviour: Hostility,
        *,
        drip_interval: float = 2.0,
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__(host)
        self.behaviour = Hostility(behaviour)
        self.drip_interval = drip_interval

    def handle(self, conn: socket.socket) -> None:
        if not recv_some(conn):
            return
        conn.settimeout(10)
        getattr(self, "_" + self.behaviour.value.replace("-", "_"))(conn)

    def _garbage(self, conn: socket.socket) -> None:
        conn.sendall(_garbage())
        hold_until_closed(conn, self._stopping)

    def _truncated_record(self, conn: socket.socket) -> None:
        hello = plausible_server_hello()
        conn.sendall(struct.pack("!BHH", 22, 0x0303, 0x0200) + hello[5:25])
        conn.shutdown(socket.SHUT_WR)
        hold_until_closed(conn, self._stopping)

    def _oversized_record(self, conn: socket.socket) -> None:
        conn.sendall(struct.pack("!BHH", 22, 0x0303, 0xFFFF) + b"\x02" + b"\x00" * 4096)
        hold_until_closed(conn, self._stopping)

    def _wrong_handshake_type(self, conn: socket.socket) -> None:
        # Certificate (11) with an empty certificate list, where ServerHello (2) belongs.
        conn.sendall(_record(22, _handshake(11, b"\x00\x00\x00")))
        hold_until_closed(conn, self._stopping)

    def _slow_drip(self, conn: socket.socket) -> None:
        for byte in plausible_server_hello():
            if self._stopping.wait(self.drip_interval):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return
        hold_until_closed(conn, self._stopping)

    def _reset_mid_hello(self, conn: socket.socket) -> None:
        hello = plausible_server_hello()
        conn.sendall(hello[: len(hello) // 2])
        time.sleep(0.05)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def _endless_stream(self, conn: socket.socket) -> None:
        first = _record(22, b"\x02\xff\xff\xff" + b"\x03\x03" + b"\x00" * (16384 - 6))
        filler = _record(22, b"\x00" * 16384)
        chunk = first
        # About 1.6 MB/s: endless for any client, gentle on a shared 2-core machine.
        while not self._stopping.wait(0.01):
            try:
                conn.sendall(chunk)
            except OSError:
                return
            chunk = filler
