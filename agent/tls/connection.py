"""One probe = one TCP connection: send a hello, read the server's first flight, close.

Every way a peer can misbehave ends as a :class:`HelloReply` with a reason: refused, timed
out, reset, garbage, truncated or oversized records, a byte every few seconds. Nothing raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum

from agent.tls import reference
from agent.tls.starttls import StartTLS, StartTLSError
from agent.tls.wire import (
    Alert,
    ContentType,
    HandshakeBuffer,
    HandshakeType,
    KeyExchangeParams,
    ParseError,
    ServerHello,
    SSL2ServerHello,
    parse_alert,
    parse_certificate_message,
    parse_record,
    parse_server_hello,
    parse_server_key_exchange,
    parse_ssl2_record,
    parse_ssl2_server_hello,
)

#: Bytes we read from one peer at most before giving up on it.
MAX_RESPONSE_BYTES = 2**19


class ReplyKind(enum.StrEnum):
    SERVER_HELLO = "server_hello"
    HELLO_RETRY = "hello_retry"
    ALERT = "alert"
    CLOSED = "closed"  # connection closed or reset without a TLS answer
    REFUSED = "refused"  # ECONNREFUSED
    TIMEOUT = "timeout"
    ERROR = "error"  # malformed answer or OS error; see reason


@dataclasses.dataclass(frozen=True, slots=True)
class HelloReply:
    kind: ReplyKind
    server_hello: ServerHello | None = None
    alert: Alert | None = None
    key_exchange: KeyExchangeParams | None = None
    certificate_request: bool = False
    #: DER certificates from a TLS <= 1.2 Certificate message, when the flight was read that far.
    certificates: tuple[bytes, ...] = ()
    ssl2: SSL2ServerHello | None = None
    reason: str | None = None
    #: The first bytes the peer sent (bounded), for port classification.
    first_bytes: bytes = b""


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int
    connect_timeout: float = 3.0
    read_timeout: float = 3.0


async def open_connection(endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    async with asyncio.timeout(endpoint.connect_timeout):
        return await asyncio.open_connection(endpoint.host, endpoint.port, limit=2**16)


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.transport.abort()


def _connect_failure(exc: BaseException) -> HelloReply:
    if isinstance(exc, ConnectionRefusedError):
        return HelloReply(ReplyKind.REFUSED, reason="connection refused")
    if isinstance(exc, TimeoutError):
        return HelloReply(ReplyKind.TIMEOUT, reason="connect timed out")
    return HelloReply(ReplyKind.ERROR, reason=f"connect failed: {exc.__class__.__name__}: {exc}")


async def _send_hello(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    hello: bytes,
    starttls: StartTLS | None,
) -> HelloReply | None:
    """Run the `starttls` dialog (if any), then send `hello`; a refused dialog is the reply."""
    if starttls is not None:
        try:
            await starttls.negotiate(reader, writer)
        except StartTLSError as exc:
            return HelloReply(ReplyKind.ERROR, reason=str(exc))
    writer.write(hello)
    await writer.drain()
    return None


class _FlightReader:
    """Parses the server's first flight as bytes arrive."""

    def __init__(self, read_key_exchange: bool) -> None:
        self.buffer = bytearray()
        self.handshake = HandshakeBuffer()
        self.read_key_exchange = read_key_exchange
        self.key_exchange: str | None = None
        self.certificates: tuple[bytes, ...] = ()
        self.server_hello: ServerHello | None = None
        self.certificate_request = False
        self.first_bytes = b""

    def feed(self, data: bytes) -> HelloReply | None:
        """A final reply when the flight says enough, else None (read more)."""
        if not self.first_bytes:
            self.first_bytes = bytes(data[:64])
        self.buffer += data
        while True:
            parsed = parse_record(bytes(self.buffer))
            if parsed is None:
                return None
            record, size = parsed
            del self.buffer[:size]
            reply = self._record(record.content_type, record.fragment)
            if reply is not None:
                return reply

    def _record(self, content_type: int, fragment: bytes) -> HelloReply | None:
        if content_type == ContentType.ALERT:
            alert = parse_alert(fragment)
            if self.server_hello is not None:  # e.g. after the ServerHello: report what we have
                return self.finish()
            return HelloReply(ReplyKind.ALERT, alert=alert, first_bytes=self.first_bytes)
        if content_type == ContentType.HANDSHAKE:
            for message in self.handshake.feed(fragment):
                reply = self._message(message.msg_type, message.body)
                if reply is not None:
                    return reply
            return None
        if content_type in (ContentType.CHANGE_CIPHER_SPEC, ContentType.APPLICATION_DATA):
            if self.server_hello is not None:
                return self.finish()  # TLS 1.3: the rest is encrypted
            raise ParseError(f"{ContentType(content_type).name} record before any ServerHello")
        raise ParseError(f"unexpected {ContentType(content_type).name} record")

    def _message(self, msg_type: int, body: bytes) -> HelloReply | None:
        if self.server_hello is None:
            if msg_type != HandshakeType.SERVER_HELLO:
                raise ParseError(
                    f"handshake message type {msg_type} where a ServerHello was expected"
                )
            self.server_hello = parse_server_hello(body)
            if self.server_hello.is_hello_retry_request:
                return HelloReply(
                    ReplyKind.HELLO_RETRY,
                    server_hello=self.server_hello,
                    first_bytes=self.first_bytes,
                )
            suite = reference.cipher_suite(self.server_hello.cipher_suite)
            if (
                suite is not None
                and suite.key_exchange in ("ECDHE", "DHE", "ECDH", "DH")
                and suite.authentication != "PSK"  # a PSK identity hint precedes the params
            ):
                self.key_exchange = suite.key_exchange
            if self.server_hello.version >= 0x0304 or not self.read_key_exchange:
                return self.finish()
            return None
        if msg_type == HandshakeType.CERTIFICATE:
            self.certificates = parse_certificate_message(body)
            return None
        if msg_type == HandshakeType.SERVER_KEY_EXCHANGE and self.key_exchange:
            try:
                params: KeyExchangeParams | None = parse_server_key_exchange(
                    body, self.key_exchange
                )
            except ParseError:
                params = None  # the ServerHello already answered the question asked
            return self.finish(params)
        if msg_type == HandshakeType.CERTIFICATE_REQUEST:
            self.certificate_request = True
        if msg_type == HandshakeType.SERVER_HELLO_DONE:
            return self.finish()
        return None

    def finish(self, params: KeyExchangeParams | None = None) -> HelloReply:
        return HelloReply(
            ReplyKind.SERVER_HELLO,
            server_hello=self.server_hello,
            key_exchange=params,
            certificate_request=self.certificate_request,
            certificates=self.certificates,
            first_bytes=self.first_bytes,
        )


async def exchange_hello(
    endpoint: Endpoint,
    hello: bytes,
    *,
    read_key_exchange: bool = False,
    starttls: StartTLS | None = None,
) -> HelloReply:
    """Send `hello` (after the `starttls` dialog, if any), read the server's first flight.

    With `read_key_exchange`, a TLS <= 1.2 flight is read on to the ServerKeyExchange (its group or
    DH size) or ServerHelloDone, collecting the Certificate and CertificateRequest on the way.
    """
    try:
        reader, writer = await open_connection(endpoint)
    except (OSError, TimeoutError) as exc:
        return _connect_failure(exc)
    flight = _FlightReader(read_key_exchange)
    try:
        async with asyncio.timeout(endpoint.read_timeout):
            refused = await _send_hello(reader, writer, hello, starttls)
            if refused is not None:
                return refused
            received = 0
            while True:
                data = await reader.read(2**14)
                if not data:
                    if flight.server_hello is not None:
                        return flight.finish()
                    reason = (
                        "closed without answer"
                        if received == 0
                        else f"closed after {received} bytes (truncated)"
                    )
                    return HelloReply(
                        ReplyKind.CLOSED, reason=reason, first_bytes=flight.first_bytes
                    )
                received += len(data)
                if received > MAX_RESPONSE_BYTES:
                    return HelloReply(
                        ReplyKind.ERROR,
                        reason=f"more than {MAX_RESPONSE_BYTES} bytes without a ServerHello",
                        first_bytes=flight.first_bytes,
                    )
                reply = flight.feed(data)
                if reply is not None:
                    return reply
    except TimeoutError:
        if flight.server_hello is not None:
            return flight.finish()
        return HelloReply(
            ReplyKind.TIMEOUT,
            reason=f"no complete answer within {endpoint.read_timeout:g}s",
            first_bytes=flight.first_bytes,
        )
    except ParseError as exc:
        return HelloReply(
            ReplyKind.ERROR, reason=f"malformed answer: {exc}", first_bytes=flight.first_bytes
        )
    except (ConnectionResetError, BrokenPipeError) as exc:
        return HelloReply(
            ReplyKind.CLOSED,
            reason=f"connection reset ({exc.__class__.__name__})",
            first_bytes=flight.first_bytes,
        )
    except OSError as exc:
        return HelloReply(
            ReplyKind.ERROR,
            reason=f"{exc.__class__.__name__}: {exc}",
            first_bytes=flight.first_bytes,
        )
    finally:
        await close_quietly(writer)


async def exchange_ssl2_hello(
    endpoint: Endpoint, hello: bytes, *, starttls: StartTLS | None = None
) -> HelloReply:
    """Send an SSLv2 CLIENT-HELLO (after the `starttls` dialog, if any); a SERVER-HELLO means SSLv2."""
    try:
        reader, writer = await open_connection(endpoint)
    except (OSError, TimeoutError) as exc:
        return _connect_failure(exc)
    buffer = bytearray()
    try:
        async with asyncio.timeout(endpoint.read_timeout):
            refused = await _send_hello(reader, writer, hello, starttls)
            if refused is not None:
                return refused
            while len(buffer) < MAX_RESPONSE_BYTES:
                data = await reader.read(2**14)
                if not data:
                    return HelloReply(
                        ReplyKind.CLOSED,
                        reason="closed without SSLv2 answer",
                        first_bytes=bytes(buffer[:64]),
                    )
                buffer += data
                if buffer[0] in (ContentType.ALERT, ContentType.HANDSHAKE):
                    # A TLS server answering an SSLv2-format hello with TLS: not SSLv2
                    return HelloReply(
                        ReplyKind.ALERT,
                        reason="answered with TLS, not SSLv2",
                        first_bytes=bytes(buffer[:64]),
                    )
                parsed = parse_ssl2_record(bytes(buffer))
                if parsed is not None:
                    message, _ = parsed
                    if message[:1] == b"\x00":  # SSLv2 ERROR message
                        return HelloReply(
                            ReplyKind.ALERT,
                            reason="SSLv2 error message",
                            first_bytes=bytes(buffer[:64]),
                        )
                    return HelloReply(
                        ReplyKind.SERVER_HELLO,
                        ssl2=parse_ssl2_server_hello(message),
                        first_bytes=bytes(buffer[:64]),
                    )
            return HelloReply(ReplyKind.ERROR, reason="SSLv2 answer too long")
    except TimeoutError:
        return HelloReply(
            ReplyKind.TIMEOUT, reason=f"no SSLv2 answer within {endpoint.read_timeout:g}s"
        )
    except ParseError as exc:
        return HelloReply(ReplyKind.ERROR, reason=f"malformed SSLv2 answer: {exc}")
    except OSError as exc:
        return HelloReply(ReplyKind.CLOSED, reason=f"{exc.__class__.__name__}: {exc}")
    finally:
        await close_quietly(writer)
