"""What a port speaks: TLS, PostgreSQL STARTTLS, plaintext HTTP, other plaintext, closed, timeout.

The first TLS probe doubles as the classification probe (its reply is handed on to the
enumeration), so a TLS port costs no extra connection. Other probes run only when the
port did not answer like TLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re

from agent.tls import ldap
from agent.tls.client_hello import HelloSpec
from agent.tls.connection import HelloReply, ReplyKind
from agent.tls.model import Transport
from agent.tls.probe import POSTGRES_SSL_REQUEST, Probe
from agent.tls.starttls import LDAP, POSTGRES, SMTP

#: An SMTP server greets first: "220 host ESMTP ..." (or "220-" for a multi-line greeting).
SMTP_GREETING = re.compile(rb"^220[ -]")

HTTP_HEAD = b"HEAD / HTTP/1.0\r\nHost: cryptoscope\r\nUser-Agent: cryptoscope\r\n\r\n"

#: Discovery hints that mean "try PostgreSQL's SSLRequest first".
POSTGRES_HINTS = frozenset({"postgres", "postgresql", "pg"})
POSTGRES_PORTS = frozenset({5432})
#: Discovery hints and ports that mean "try LDAP's StartTLS extended request first".
LDAP_HINTS = frozenset({"ldap"})
LDAP_PORTS = frozenset({389, 3268})


@dataclasses.dataclass(frozen=True, slots=True)
class Classification:
    transport: Transport
    #: The reply to the first ClientHello (reusable by the enumeration), when it was TLS.
    first_reply: HelloReply | None = None
    reason: str | None = None


def _is_tls_answer(reply: HelloReply) -> bool:
    return reply.kind in (ReplyKind.SERVER_HELLO, ReplyKind.HELLO_RETRY, ReplyKind.ALERT)


def looks_like_tls(first_bytes: bytes) -> bool:
    """A record header: content type 20..24, then major version 3."""
    return (
        bool(first_bytes)
        and 20 <= first_bytes[0] <= 24
        and (len(first_bytes) < 2 or first_bytes[1] == 3)
    )


def _printable(data: bytes) -> bool:
    sample = data[:64]
    text = sum(1 for byte in sample if 32 <= byte < 127 or byte in (9, 10, 13))
    return bool(sample) and text >= 0.9 * len(sample)


#: Plaintext protocols recognised by how their first answer begins. The reason names the
#: protocol, never the bytes: a peer's answer may carry anything, secrets included.
PLAINTEXT_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"SSH-", "SSH"),
    (b"220 ", "SMTP or FTP greeting"),
    (b"220-", "SMTP or FTP greeting"),
    (b"+OK", "POP3"),
    (b"* OK", "IMAP"),
    (b"-ERR", "Redis"),
    (b"-NOAUTH", "Redis"),
    (b"RFB ", "VNC"),
    (b"AMQP", "AMQP"),
    (b"<?xml", "XML"),
    (b"{", "JSON"),
)


def _plaintext_kind(first_bytes: bytes) -> str:
    for prefix, kind in PLAINTEXT_SIGNATURES:
        if first_bytes.startswith(prefix):
            return kind
    return "unrecognised text"


def _non_tls(first_bytes: bytes, reason: str | None) -> Classification:
    """Classify an answer that is not a usable TLS reply (described, never quoted)."""
    if looks_like_tls(first_bytes):
        return Classification(
            Transport.ERROR, reason=f"broken TLS answer: {reason or 'unreadable'}"
        )
    if first_bytes.startswith(b"HTTP/"):
        return Classification(Transport.PLAINTEXT_HTTP, reason="answered in HTTP")
    if _printable(first_bytes):
        return Classification(
            Transport.PLAINTEXT,
            reason=f"not TLS: a plaintext answer ({_plaintext_kind(first_bytes)}, {len(first_bytes)} bytes)",
        )
    return Classification(
        Transport.ERROR,
        reason=(
            f"neither TLS nor text: {len(first_bytes)} bytes starting 0x{first_bytes[0]:02x} "
            f"({reason or 'no reason'})"
            if first_bytes
            else f"neither TLS nor text: no bytes ({reason or 'no reason'})"
        ),
    )


async def classify(probe: Probe, first_hello: HelloSpec) -> Classification:
    """Classify the port, sending `first_hello` as the first TLS probe.

    A port that has not answered the ClientHello after a short grace period gets an HTTP
    HEAD in parallel (HTTP servers wait for a request line), so a silent port costs one
    read timeout, not two.
    """
    hint = (probe.target.protocol_hint or "").lower()
    if hint in POSTGRES_HINTS or probe.target.port in POSTGRES_PORTS:
        found = await _postgres(probe)
        if found is not None:
            return (
                found
                if found.transport != Transport.STARTTLS_POSTGRES
                else await _tls_after_postgres(probe, first_hello)
            )
    if hint in LDAP_HINTS or probe.target.port in LDAP_PORTS:
        found = await _ldap(probe, first_hello)
        if found is not None:
            return found
    read_timeout = probe.options.read_timeout
    grace = min(0.5, read_timeout / 4)
    tls_task = asyncio.ensure_future(probe.hello(first_hello, read_key_exchange=True))
    head_task: asyncio.Future[tuple[str, bytes]] | None = None
    done, _ = await asyncio.wait({tls_task}, timeout=grace)
    if not done:
        head_task = asyncio.ensure_future(
            probe.raw(HTTP_HEAD, timeout=max(0.1, read_timeout - grace))
        )
    try:
        reply = await tls_task
        if _is_tls_answer(reply):
            return Classification(Transport.TLS, first_reply=reply)
        return await _not_tls(probe, reply, head_task, hint, first_hello)
    finally:
        if head_task is not None and not head_task.done():
            head_task.cancel()
            with contextlib.suppress(BaseException):
                await head_task


async def _not_tls(
    probe: Probe,
    reply: HelloReply,
    head_task: asyncio.Future[tuple[str, bytes]] | None,
    hint: str,
    first_hello: HelloSpec,
) -> Classification:
    quick = min(probe.options.read_timeout, max(1.0, probe.options.read_timeout / 3))

    async def head() -> bytes:
        if head_task is not None:
            return (await head_task)[1]
        return (await probe.raw(HTTP_HEAD, timeout=quick))[1]

    if reply.kind == ReplyKind.REFUSED:
        return Classification(Transport.CLOSED, reason=reply.reason)
    if reply.first_bytes and looks_like_tls(reply.first_bytes):
        return _non_tls(reply.first_bytes, reply.reason)  # TLS, but broken: no other probe helps
    if reply.kind in (ReplyKind.ERROR, ReplyKind.CLOSED) and _ldap_message(reply.first_bytes):
        # An LDAP server answering the ClientHello with a notice of disconnection
        found = await _ldap(probe, first_hello, timeout=quick)
        if found is not None:
            return found
    if reply.kind == ReplyKind.ERROR and reply.first_bytes:
        if reply.first_bytes.startswith(b"HTTP/") or not _printable(reply.first_bytes):
            return _non_tls(reply.first_bytes, reply.reason)
        if SMTP_GREETING.match(reply.first_bytes):
            return await _smtp(probe, first_hello, reply.first_bytes)
        # HTTP/0.9-style error pages carry no status line: ask properly once
        answer = await head()
        return _non_tls(answer if answer.startswith(b"HTTP/") else reply.first_bytes, reply.reason)
    if reply.kind == ReplyKind.ERROR and reply.reason and reply.reason.startswith("connect"):
        return Classification(Transport.ERROR, reason=reply.reason)
    if reply.kind == ReplyKind.TIMEOUT and reply.reason == "connect timed out":
        return Classification(Transport.TIMEOUT, reason=reply.reason)
    if reply.kind == ReplyKind.CLOSED and hint not in POSTGRES_HINTS:
        # Closed on a ClientHello: PostgreSQL drops it as a bad startup packet
        found = await _postgres(probe, timeout=quick)
        if found is not None:
            return (
                found
                if found.transport != Transport.STARTTLS_POSTGRES
                else await _tls_after_postgres(probe, first_hello)
            )
        # ... and so does an LDAP server (a BER error): ask for StartTLS
        found = await _ldap(probe, first_hello, timeout=quick)
        if found is not None:
            return found
    answer = await head()
    if answer:
        return _non_tls(answer, reply.reason)
    if reply.kind == ReplyKind.TIMEOUT:
        return Classification(
            Transport.TIMEOUT, reason=f"no answer within {probe.options.read_timeout:g}s"
        )
    return Classification(Transport.ERROR, reason=reply.reason or "no answer")


async def _postgres(probe: Probe, timeout: float | None = None) -> Classification | None:
    status, answer = await probe.raw(
        POSTGRES_SSL_REQUEST, timeout=timeout or probe.options.read_timeout
    )
    if status == "refused":
        return Classification(Transport.CLOSED, reason="connection refused")
    if answer[:1] == b"S" and len(answer) == 1:
        return Classification(Transport.STARTTLS_POSTGRES)
    if answer[:1] == b"N" and len(answer) == 1:
        return Classification(
            Transport.PLAINTEXT, reason="PostgreSQL without TLS (SSLRequest answered N)"
        )
    return None


async def _tls_after_postgres(probe: Probe, first_hello: HelloSpec) -> Classification:
    probe.starttls = POSTGRES
    reply = await probe.hello(first_hello, read_key_exchange=True)
    if _is_tls_answer(reply):
        return Classification(Transport.STARTTLS_POSTGRES, first_reply=reply)
    return Classification(
        Transport.ERROR, reason=f"PostgreSQL accepted SSLRequest but not TLS: {reply.reason}"
    )


async def _smtp(probe: Probe, first_hello: HelloSpec, banner: bytes) -> Classification:
    """A 220 greeting: try EHLO / STARTTLS, then TLS."""
    probe.starttls = SMTP
    reply = await probe.hello(first_hello, read_key_exchange=True)
    if _is_tls_answer(reply):
        return Classification(Transport.STARTTLS_SMTP, first_reply=reply)
    probe.starttls = None
    plain = _non_tls(banner, None)
    return dataclasses.replace(plain, reason=f"{plain.reason}; no STARTTLS: {reply.reason}")


def _ldap_message(first_bytes: bytes) -> bool:
    try:
        ldap.parse_extended_response(first_bytes)
    except ldap.LDAPError:
        return False
    return True


async def _ldap(
    probe: Probe, first_hello: HelloSpec, timeout: float | None = None
) -> Classification | None:
    """Send LDAP's StartTLS extended request; on success, TLS follows on the same connection."""
    status, answer = await probe.raw(
        ldap.STARTTLS_REQUEST, timeout=timeout or probe.options.read_timeout
    )
    if status == "refused":
        return Classification(Transport.CLOSED, reason="connection refused")
    try:
        response = ldap.parse_extended_response(answer)
    except ldap.LDAPError:
        return None  # not LDAP
    if not response.success:
        return Classification(
            Transport.PLAINTEXT, reason=f"LDAP without StartTLS: {ldap.describe(answer)}"
        )
    probe.starttls = LDAP
    reply = await probe.hello(first_hello, read_key_exchange=True)
    if _is_tls_answer(reply):
        return Classification(Transport.STARTTLS_LDAP, first_reply=reply)
    probe.starttls = None
    return Classification(
        Transport.ERROR, reason=f"LDAP accepted StartTLS but not TLS: {reply.reason}"
    )
