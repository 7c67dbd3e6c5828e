"""Enumeration building blocks: offer lists, chunking under the ClientHello budget, order proofs.

The end-to-end truth (exact suites, order, groups of real servers) is in test_real_peers_*.py;
these check the pieces those results rest on, including one real pyOpenSSL peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator

import pytest
from OpenSSL import SSL, crypto

from agent.tls import reference
from agent.tls.client_hello import HelloSpec, client_hello
from agent.tls.enumerate import (
    HELLO_BYTE_BUDGET,
    VersionOutcome,
    candidate_suites,
    chunked,
    first_hello,
    tls12_candidate_groups,
    tls13_candidate_groups,
)
from agent.tls.model import ScanOptions, Target
from agent.tls.probe import Probe
from agent.tls.prober import scan_endpoint
from inspector.lab import pki


@pytest.mark.parametrize("version", ["SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"])
def test_every_suite_is_offered_once_and_hellos_stay_small(version: str) -> None:
    suites = candidate_suites(version)
    assert sorted(suites) == sorted(s.id for s in reference.suites_for_version(version))
    assert len(set(suites)) == len(suites)
    chunks = chunked(suites)
    assert [suite for chunk in chunks for suite in chunk] == suites
    assert max(len(c) for c in chunks) - min(len(c) for c in chunks) <= 1  # balanced
    probe = Probe(
        Target("a-rather-long-service-name.payments.svc.cluster.local", 443), ScanOptions()
    )
    for chunk in chunks:
        record = client_hello(
            first_hello(probe)
            if version == "TLSv1.2" and chunk == chunks[0]
            else HelloSpec(
                version, tuple(chunk), probe.server_name, groups=tuple(tls12_candidate_groups())
            )
        )
        if version != "TLSv1.3":
            assert len(record) <= HELLO_BYTE_BUDGET, (version, len(record))


def test_mainstream_suites_come_first() -> None:
    suites = [reference.cipher_suite(s) for s in chunked(candidate_suites("TLSv1.2"))[0]]
    names = {s.iana_name for s in suites if s}
    assert {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"} <= names  # fmt: skip
    assert all(s is not None and s.authentication not in ("PSK", "SRP") for s in suites[:80])


def test_server_order_proof() -> None:
    rising = VersionOutcome("TLSv1.2", suites=[1, 2, 3], offer_positions=[4, 9, 30])
    assert (
        not rising.proven_server_order
    )  # what a client-order server does: needs the reverse probe
    falling = VersionOutcome("TLSv1.2", suites=[1, 2, 3], offer_positions=[9, 4, 30])
    assert falling.proven_server_order


def test_group_candidates() -> None:
    tls13 = tls13_candidate_groups()
    assert {4588, 4587, 4589, 513, 29, 23, 256} <= set(tls13)
    assert 65281 not in tls13  # arbitrary_explicit_* are not key-exchange groups
    tls12 = tls12_candidate_groups()
    assert {23, 24, 25, 29, 30, 26} <= set(tls12)
    assert not {4588, 256, 31} & set(tls12)  # no hybrids, FFDHE or TLS 1.3-only brainpool


@pytest.fixture()
def pyopenssl_server() -> Iterator[int]:
    """A pyOpenSSL (OpenSSL 4) server with a fixed TLS 1.2 list, server order, TLS 1.2 and 1.3."""
    leaf = pki.make_leaf(None, key_kind="rsa", key_bits=2048)
    context = SSL.Context(SSL.TLS_METHOD)
    context.use_certificate(crypto.X509.from_cryptography(leaf.certificate))
    context.use_privatekey(crypto.PKey.from_cryptography_key(leaf.key))
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_cipher_list(b"ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384:AES128-GCM-SHA256")
    context.set_options(SSL.OP_CIPHER_SERVER_PREFERENCE)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            sock.setblocking(
                True
            )  # pyOpenSSL needs a blocking socket (a timeout makes it non-blocking)
            connection = SSL.Connection(context, sock)
            connection.set_accept_state()
            with contextlib.suppress(SSL.Error, OSError):
                connection.do_handshake()
            sock.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join(timeout=10)
        listener.close()


def test_scan_of_a_pyopenssl_peer(pyopenssl_server: int) -> None:
    # The server's own cipher list (server order) is the truth for TLS 1.2
    result = asyncio.run(
        scan_endpoint(
            Target("127.0.0.1", pyopenssl_server), ScanOptions(read_timeout=10, connect_timeout=10)
        )
    )
    assert result.error is None, result
    assert result.accepted_protocols == ("TLSv1.2", "TLSv1.3"), result.protocols
    tls12 = result.protocols["TLSv1.2"]
    assert tls12.suites == (
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_128_GCM_SHA256",
    )
    assert tls12.server_preference is True
    assert "X25519MLKEM768" in result.groups_by_version["TLSv1.3"]
    assert result.negotiated is not None and result.negotiated[0] == "TLSv1.3"
    assert result.connections > 0 and result.certificates


class _SMTPServer:
    """A minimal SMTP dialog (greeting, EHLO, STARTTLS) in front of a real pyOpenSSL TLS server."""

    def __init__(self, offer_starttls: bool) -> None:
        leaf = pki.make_leaf(None)
        self.context = SSL.Context(SSL.TLS_METHOD)
        self.context.use_certificate(crypto.X509.from_cryptography(leaf.certificate))
        self.context.use_privatekey(crypto.PKey.from_cryptography_key(leaf.key))
        self.offer_starttls = offer_starttls
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> _SMTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.listener.close()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError, SSL.Error):
                self._session(sock)
            sock.close()

    def _session(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        sock.sendall(b"220 lab.invalid ESMTP ready\r\n")
        stream = sock.makefile("rb")
        while line := stream.readline(1024):
            command = line.strip().upper()
            if command.startswith(b"EHLO"):
                extensions = b"250-STARTTLS\r\n" if self.offer_starttls else b""
                sock.sendall(b"250-lab.invalid\r\n" + extensions + b"250 8BITMIME\r\n")
            elif command == b"STARTTLS" and self.offer_starttls:
                sock.sendall(b"220 2.0.0 ready to start TLS\r\n")
                connection = SSL.Connection(self.context, sock)
                connection.set_accept_state()
                connection.do_handshake()
                return
            else:
                sock.sendall(b"500 5.5.1 unrecognized command\r\n")
                return


def test_smtp_starttls_is_classified_and_scanned() -> None:
    with _SMTPServer(offer_starttls=True) as server:
        result = asyncio.run(
            scan_endpoint(
                Target("127.0.0.1", server.port), ScanOptions(read_timeout=10, connect_timeout=10)
            )
        )
    assert result.transport.value == "starttls-smtp", (result.error, result.warnings)
    assert "TLSv1.3" in result.accepted_protocols and "TLSv1.2" in result.accepted_protocols
    assert result.certificates and result.negotiated is not None


def test_smtp_without_starttls_is_plaintext() -> None:
    with _SMTPServer(offer_starttls=False) as server:
        result = asyncio.run(
            scan_endpoint(Target("127.0.0.1", server.port), ScanOptions(read_timeout=10))
        )
    assert result.transport.value == "plaintext"
    assert any("no STARTTLS" in warning for warning in result.warnings), result.warnings
