"""STARTTLS dialogs: the plaintext exchange that precedes the ClientHello on some ports.

A dialog is data: steps of (bytes to send, when the answer is complete, whether it says yes).
The same steps run over asyncio streams (probes) and over a blocking socket (the pyOpenSSL
handshake).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import select
import socket
import time
from collections.abc import Callable

from agent.tls import ldap
from agent.tls.model import Transport

#: PostgreSQL SSLRequest: length 8, code 80877103 (0x04D2162F).
POSTGRES_SSL_REQUEST = bytes.fromhex("0000000804d2162f")
#: Longest plaintext answer we read in one step (an SMTP EHLO reply is a few hundred bytes).
MAX_STEP_BYTES = 8192

_SMTP_LAST_LINE = re.compile(rb"(?:^|\r?\n)(\d{3}) [^\n]*\r?\n$")


class StartTLSError(Exception):
    """The server did not agree to start TLS; the message says what it answered."""


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    send: bytes | None
    #: The answer so far is complete (read no more).
    complete: Callable[[bytes], bool]
    #: The complete answer agrees.
    ok: Callable[[bytes], bool]
    what: str
    #: Says why a complete answer is not a yes, never quoting it (default: its size and first byte).
    explain: Callable[[bytes], str] | None = None

    def refusal(self, name: str, answer: bytes) -> str:
        detail = self.explain(answer) if self.explain else _describe(answer)
        return f"{name}: {self.what} refused: {detail}"


@dataclasses.dataclass(frozen=True, slots=True)
class StartTLS:
    name: str
    transport: Transport
    steps: tuple[Step, ...]

    async def negotiate(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Run the dialog on streams (the caller bounds the time)."""
        for step in self.steps:
            if step.send is not None:
                writer.write(step.send)
                await writer.drain()
            answer = b""
            while not step.complete(answer):
                answer = self._grown(step, answer, await reader.read(1024))
            self._agreed(step, answer)

    def negotiate_blocking(self, sock: socket.socket, deadline: float) -> None:
        """Run the dialog on a blocking socket, within `deadline` (time.monotonic)."""
        for step in self.steps:
            if step.send is not None:
                sock.sendall(step.send)
            answer = b""
            while not step.complete(answer):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([sock], [], [], remaining)[0]:
                    raise TimeoutError(f"{self.name}: no answer to {step.what}")
                answer = self._grown(step, answer, sock.recv(1024))
            self._agreed(step, answer)

    def _grown(self, step: Step, answer: bytes, data: bytes) -> bytes:
        """`answer` with `data` read on; raises when the peer closed or answers too much."""
        if not data:
            raise StartTLSError(f"{self.name}: closed during {step.what}")
        answer += data
        if len(answer) > MAX_STEP_BYTES:
            raise StartTLSError(f"{self.name}: answer to {step.what} too long")
        return answer

    def _agreed(self, step: Step, answer: bytes) -> None:
        """Raises, with the refusal described, unless the complete `answer` is a yes."""
        if not step.ok(answer):
            raise StartTLSError(step.refusal(self.name, answer))


def _describe(answer: bytes) -> str:
    """A refusing answer by its size and first byte, never its text: a peer's bytes may carry secrets."""
    if not answer:
        return "no bytes"
    return f"{len(answer)} bytes starting 0x{answer[0]:02x}"


def _smtp_explain(answer: bytes) -> str:
    """An SMTP refusal by its reply code (the text after it is the peer's and is not kept)."""
    match = _SMTP_LAST_LINE.search(answer)
    if match is None:
        return _describe(answer)
    code = match.group(1).decode("ascii")
    if code == "250":
        return f"reply 250 without STARTTLS ({len(answer)} bytes)"
    return f"reply {code} ({len(answer)} bytes)"


def _smtp_complete(answer: bytes) -> bool:
    return bool(_SMTP_LAST_LINE.search(answer))


def _smtp_code(code: bytes) -> Callable[[bytes], bool]:
    def ok(answer: bytes) -> bool:
        match = _SMTP_LAST_LINE.search(answer)
        return bool(match) and match.group(1) == code  # type: ignore[union-attr]

    return ok


POSTGRES = StartTLS(
    "PostgreSQL",
    Transport.STARTTLS_POSTGRES,
    (Step(POSTGRES_SSL_REQUEST, lambda a: len(a) >= 1, lambda a: a == b"S", "SSLRequest"),),
)

SMTP = StartTLS(
    "SMTP",
    Transport.STARTTLS_SMTP,
    (
        Step(None, _smtp_complete, _smtp_code(b"220"), "greeting", _smtp_explain),
        Step(
            b"EHLO cryptoscope.invalid\r\n",
            _smtp_complete,
            lambda a: _smtp_code(b"250")(a) and b"STARTTLS" in a.upper(),
            "EHLO (STARTTLS offered)",
            _smtp_explain,
        ),
        Step(b"STARTTLS\r\n", _smtp_complete, _smtp_code(b"220"), "STARTTLS", _smtp_explain),
    ),
)

LDAP = StartTLS(
    "LDAP",
    Transport.STARTTLS_LDAP,
    (
        Step(
            ldap.STARTTLS_REQUEST,
            ldap.is_complete,
            ldap.starttls_accepted,
            "StartTLS extended request",
            ldap.describe,
        ),
    ),
)
