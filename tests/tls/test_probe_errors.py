"""A failed raw exchange carries no 'answer': an OS error must never be classified as the peer's bytes."""

from __future__ import annotations

import asyncio

import pytest

from agent.tls import connection, probe
from agent.tls.connection import Endpoint


def test_an_os_error_is_not_reported_as_peer_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    async def unreachable(endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(connection, "open_connection", unreachable)
    status, answer = asyncio.run(
        probe._exchange_raw(Endpoint("127.0.0.1", 9), b"HEAD / HTTP/1.0\r\n\r\n")
    )
    assert (status, answer) == ("error", b"")


def test_a_refused_port_is_refused() -> None:
    import socket

    with socket.socket() as sock:  # bind, then close: nothing listens there any more
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, answer = asyncio.run(probe._exchange_raw(Endpoint("127.0.0.1", port), b"x"))
    assert (status, answer) == ("refused", b"")
