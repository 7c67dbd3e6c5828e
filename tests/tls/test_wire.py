"""Wire format: ClientHellos checked by an independent TLS implementation (tlslite-ng),
ServerHello/HRR/alert/ServerKeyExchange/SSLv2 parsers checked by round trips and fuzzing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tlslite.messages import ClientHello
from tlslite.utils.codec import Parser

from agent.tls.client_hello import (
    SIGNATURE_ALGORITHMS,
    TLS_FALLBACK_SCSV,
    HelloSpec,
    client_hello,
    key_share_bytes,
    ssl2_client_hello,
)
from agent.tls.connection import Endpoint, ReplyKind, _FlightReader, exchange_hello
from agent.tls.reference import group
from agent.tls.wire import (
    HELLO_RETRY_REQUEST_RANDOM,
    MAX_RECORD_LENGTH,
    SSL2_CIPHERS,
    HandshakeBuffer,
    ParseError,
    encode_handshake,
    encode_record,
    iter_records,
    parse_alert,
    parse_certificate_message,
    parse_record,
    parse_server_hello,
    parse_server_key_exchange,
    parse_ssl2_record,
    parse_ssl2_server_hello,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _tlslite(record: bytes) -> ClientHello:
    """Parse our ClientHello record with tlslite-ng (after the record header and handshake type)."""
    assert record[0] == 22
    assert struct.unpack("!H", record[3:5])[0] == len(record) - 5
    return ClientHello().parse(Parser(record[6:]))


@pytest.mark.parametrize(
    ("version", "wire"),
    [("SSLv3", (3, 0)), ("TLSv1.0", (3, 1)), ("TLSv1.1", (3, 2)), ("TLSv1.2", (3, 3))],
)
def test_legacy_client_hellos_parse_in_tlslite(version: str, wire: tuple[int, int]) -> None:
    suites = (0xC02F, 0x002F, 0x000A, 0x0003)
    record = client_hello(HelloSpec(version, suites, "svc.example.internal", fallback_scsv=True))
    assert record[1:3] == (b"\x03\x00" if version == "SSLv3" else b"\x03\x01")
    hello = _tlslite(record)
    assert tuple(hello.client_version) == wire
    assert hello.cipher_suites == [*suites, TLS_FALLBACK_SCSV]
    assert hello.compression_methods == [0]
    if version == "SSLv3":
        assert not hello.extensions  # SSLv3 servers may choke on extensions
        return
    assert hello.server_name == b"svc.example.internal"
    assert hello.getExtension(43) is None and hello.getExtension(51) is None
    assert hello.getExtension(0xFF01) is not None
    assert hello.getExtension(10).groups[0] == 29
    signature_algorithms = hello.getExtension(13)
    if version == "TLSv1.2":
        assert [a << 8 | b for a, b in signature_algorithms.sigalgs] == list(SIGNATURE_ALGORITHMS)
    else:
        assert signature_algorithms is None


def test_tls13_client_hello_parses_in_tlslite() -> None:
    record = client_hello(
        HelloSpec(
            "TLSv1.3",
            (0x1301, 0x1302, 0x1303),
            "localhost",
            groups=(4588, 29, 23),
            key_share_groups=(4588, 29, 23),
        )
    )
    hello = _tlslite(record)
    assert tuple(hello.client_version) == (3, 3)
    assert len(hello.session_id) == 32
    assert hello.getExtension(43).versions == [(3, 4)]
    assert hello.getExtension(10).groups == [4588, 29, 23]
    shares = {
        share.group: len(share.key_exchange) for share in hello.getExtension(51).client_shares
    }
    assert shares == {4588: 1216, 29: 32, 23: 65}
    assert hello.getExtension(45).modes == [1]  # psk_dhe_ke


def test_ip_literal_is_not_sent_as_sni() -> None:
    assert (
        _tlslite(client_hello(HelloSpec("TLSv1.2", (0x002F,), "127.0.0.1"))).server_name
        == bytearray()
    )


def test_key_shares_have_the_registry_length() -> None:
    for group_id in (29, 30, 23, 24, 25, 41, 256, 512, 513, 514, 4587, 4588, 4589, 4590, 25497):
        item = group(group_id)
        assert item is not None and len(key_share_bytes(group_id)) == item.key_share_length, item


def test_ssl2_client_hello_parses_in_tlslite() -> None:
    record = ssl2_client_hello()
    assert record[0] & 0x80 and ((record[0] & 0x7F) << 8 | record[1]) == len(record) - 2
    hello = ClientHello(ssl2=True).parse(Parser(record[3:]))
    assert tuple(hello.client_version) == (0, 2)
    assert hello.cipher_suites == list(SSL2_CIPHERS)


def test_client_hello_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one"):
        client_hello(HelloSpec("TLSv1.2", ()))
    with pytest.raises(ValueError, match="SSLv2"):
        client_hello(HelloSpec("SSLv2", (0x002F,)))


# --- ServerHello round trips -------------------------------------------------------------------


def _server_hello(
    version: int,
    random: bytes,
    session_id: bytes,
    suite: int,
    extensions: list[tuple[int, bytes]] | None,
) -> bytes:
    """Encoded here from RFC 8446 4.1.3, independently of the code under test."""
    body = (
        struct.pack("!H", version)
        + random
        + bytes([len(session_id)])
        + session_id
        + struct.pack("!HB", suite, 0)
    )
    if extensions is not None:
        block = b"".join(struct.pack("!HH", kind, len(data)) + data for kind, data in extensions)
        body += struct.pack("!H", len(block)) + block
    return body


@FUZZ
@given(
    version=st.sampled_from([0x0300, 0x0301, 0x0302, 0x0303]),
    random=st.binary(min_size=32, max_size=32),
    session_id=st.binary(max_size=32),
    suite=st.integers(0, 0xFFFF),
    tls13=st.booleans(),
    hrr=st.booleans(),
    group_id=st.integers(0, 0xFFFF),
    share=st.binary(min_size=1, max_size=300),
)
def test_server_hello_round_trip(
    version: int,
    random: bytes,
    session_id: bytes,
    suite: int,
    tls13: bool,
    hrr: bool,
    group_id: int,
    share: bytes,
) -> None:
    extensions: list[tuple[int, bytes]] | None = None
    if tls13:
        random = HELLO_RETRY_REQUEST_RANDOM if hrr else random
        key_share = struct.pack("!H", group_id) + (
            b"" if hrr else struct.pack("!H", len(share)) + share
        )
        extensions = [(43, b"\x03\x04"), (51, key_share)]
    parsed = parse_server_hello(
        _server_hello(0x0303 if tls13 else version, random, session_id, suite, extensions)
    )
    assert (parsed.random, parsed.session_id, parsed.cipher_suite) == (random, session_id, suite)
    if tls13:
        assert parsed.version == 0x0304 and parsed.version_name == "TLSv1.3"
        assert parsed.key_share_group == group_id
        assert parsed.is_hello_retry_request == (random == HELLO_RETRY_REQUEST_RANDOM)
    else:
        assert (
            parsed.version == version and parsed.selected_version is None and not parsed.extensions
        )


@FUZZ
@given(st.binary(max_size=600))
def test_parsers_raise_only_parse_error(data: bytes) -> None:
    for parse in (
        parse_server_hello,
        parse_alert,
        parse_ssl2_server_hello,
        parse_certificate_message,
        lambda d: parse_server_key_exchange(d, "ECDHE"),
        lambda d: parse_server_key_exchange(d, "DHE"),
        lambda d: list(iter_records(d)),
        parse_record,
        parse_ssl2_record,
        HandshakeBuffer().feed,
        _FlightReader(True).feed,
    ):
        with contextlib.suppress(ParseError):
            parse(data)


@FUZZ
@given(st.binary(max_size=200), st.integers(1, 40))
def test_flight_reader_on_tls_shaped_junk(body: bytes, split: int) -> None:
    # Records with valid headers and arbitrary bodies, fed in arbitrary pieces
    data = encode_record(22, 0x0303, encode_handshake(2, body)) + encode_record(
        21, 0x0303, body[:2]
    )
    reader = _FlightReader(True)
    try:
        for offset in range(0, len(data), split):
            if reader.feed(data[offset : offset + split]) is not None:
                break
    except ParseError:
        pass


def test_record_limits_and_reasons() -> None:
    oversized = bytes([22, 3, 3]) + struct.pack("!H", MAX_RECORD_LENGTH + 1)
    with pytest.raises(ParseError, match="exceeds"):
        parse_record(oversized)
    with pytest.raises(ParseError, match="content type 72"):
        parse_record(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(ParseError, match="version 0x0900"):
        parse_record(bytes([22, 9, 0, 0, 1, 0]))
    assert parse_record(bytes([22, 3, 3, 0, 5, 1])) is None  # needs more bytes
    with pytest.raises(ParseError, match="truncated"):
        list(iter_records(bytes([21, 3, 3, 0, 2, 2])))
    with pytest.raises(ParseError, match="exceeds"):
        HandshakeBuffer(max_length=100).feed(bytes([2, 0, 1, 0]))
    with pytest.raises(ParseError, match="appears twice"):
        parse_server_hello(
            _server_hello(
                0x0303, os.urandom(32), b"", 0x1301, [(43, b"\x03\x04"), (43, b"\x03\x04")]
            )
        )
    with pytest.raises(ParseError, match="session id length 33"):
        parse_server_hello(_server_hello(0x0303, os.urandom(32), bytes(33), 0x1301, None))


def test_handshake_messages_spanning_records() -> None:
    message = encode_handshake(2, _server_hello(0x0303, os.urandom(32), b"", 0xC02F, []))
    buffer = HandshakeBuffer()
    assert buffer.feed(message[:7]) == [] and buffer.pending == 7
    (whole,) = buffer.feed(message[7:])
    assert parse_server_hello(whole.body).cipher_suite == 0xC02F


def test_alerts_and_key_exchange_params() -> None:
    alert = parse_alert(b"\x02\x46")
    assert (alert.fatal, alert.name) == (True, "protocol_version")
    with pytest.raises(ParseError, match="level 7"):
        parse_alert(b"\x07\x28")
    assert parse_server_key_exchange(b"\x03\x00\x1d\x20" + bytes(32), "ECDHE").named_group == 29
    prime = b"\x00" + b"\xff" * 256  # a leading zero byte does not count
    ske = struct.pack("!H", len(prime)) + prime + b"\x00\x01\x02"
    assert parse_server_key_exchange(ske, "DHE").dh_bits == 2048
    with pytest.raises(ParseError, match="curve type 1"):
        parse_server_key_exchange(b"\x01\x00\x17", "ECDHE")


def test_certificate_message() -> None:
    certs = [b"\x30\x03\x02\x01\x01", b"\x30\x00"]
    inner = b"".join(len(c).to_bytes(3, "big") + c for c in certs)
    assert parse_certificate_message(len(inner).to_bytes(3, "big") + inner) == tuple(certs)


def test_ssl2_server_hello() -> None:
    cert = b"\x30\x00"
    specs = bytes.fromhex("010080") + bytes.fromhex("0700c0")
    message = (
        bytes([4, 0, 1])
        + struct.pack("!HHHH", 2, len(cert), len(specs), 16)
        + cert
        + specs
        + bytes(16)
    )
    record = bytes([0x80 | (len(message) >> 8), len(message) & 0xFF]) + message
    parsed_record = parse_ssl2_record(record)
    assert parsed_record is not None
    hello = parse_ssl2_server_hello(parsed_record[0])
    assert (hello.version, hello.cipher_kinds) == (2, (0x010080, 0x0700C0))


async def _serve_once(answer: bytes) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(5)
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_exchange_hello_reads_a_served_hello_retry_request() -> None:
    # A loopback peer that answers any hello with a fixed HelloRetryRequest for X25519MLKEM768
    body = _server_hello(
        0x0303, HELLO_RETRY_REQUEST_RANDOM, b"", 0x1302, [(43, b"\x03\x04"), (51, b"\x11\xec")]
    )
    server, port = await _serve_once(encode_record(22, 0x0303, encode_handshake(2, body)))
    async with server:
        reply = await exchange_hello(
            Endpoint("127.0.0.1", port), client_hello(HelloSpec("TLSv1.3", (0x1302,)))
        )
    assert reply.kind == ReplyKind.HELLO_RETRY and reply.server_hello is not None
    assert (reply.server_hello.cipher_suite, reply.server_hello.key_share_group) == (0x1302, 4588)


async def test_exchange_hello_reports_truncation_and_junk() -> None:
    server, port = await _serve_once(bytes([22, 3, 3, 0x10, 0x00, 2, 0]))
    async with server:
        reply = await exchange_hello(
            Endpoint("127.0.0.1", port), client_hello(HelloSpec("TLSv1.2", (0x2F,)))
        )
    assert reply.kind == ReplyKind.CLOSED and "truncated" in (reply.reason or "")
    server, port = await _serve_once(b"SSH-2.0-OpenSSH_9.2\r\n")
    async with server:
        reply = await exchange_hello(
            Endpoint("127.0.0.1", port), client_hello(HelloSpec("TLSv1.2", (0x2F,)))
        )
    assert reply.kind == ReplyKind.ERROR and "content type 83" in (reply.reason or "")
    assert reply.first_bytes.startswith(b"SSH-2.0")
