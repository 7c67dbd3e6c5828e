"""One full handshake with pyOpenSSL: the certificate chain, the negotiated parameters, mTLS.

Blocking (pyOpenSSL); the prober runs it in a thread. No certificate is verified here:
the chain is collected as presented and judged by :mod:`agent.tls.certificates`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import select
import socket
import time
from collections.abc import Callable
from typing import TypeVar

from cryptography import x509
from OpenSSL import SSL

from agent.tls import reference
from agent.tls.starttls import StartTLS, StartTLSError

#: OpenSSL group names that differ from the IANA ones.
_OPENSSL_GROUP_ALIASES = {
    "prime256v1": "secp256r1",
    "secp256r1": "secp256r1",
    "x25519": "x25519",
    "x448": "x448",
}

#: Alert text OpenSSL reports when the server insists on a client certificate.
_CLIENT_CERT_ALERTS = (
    "certificate required",
    "alert handshake failure",
    "peer did not return a certificate",
)


@dataclasses.dataclass(frozen=True, slots=True)
class FullHandshake:
    version: str | None = None  # e.g. "TLSv1.3"
    cipher: str | None = None  # IANA name
    group: str | None = None  # IANA name
    certificates: tuple[x509.Certificate, ...] = ()
    certificate_requested: bool = False
    client_cert_required: bool = False
    error: str | None = None
    #: DER OCSP response stapled by the server (status_request was sent); b"" when none was
    #: stapled, None when the handshake did not get that far.
    ocsp_staple: bytes | None = None


def _iana_cipher(openssl_name: str | None) -> str | None:
    if not openssl_name:
        return None
    suite = reference.cipher_suite(openssl_name)
    return suite.iana_name if suite else openssl_name


def _iana_group(name: str | None) -> str | None:
    if not name:
        return None
    item = reference.group(_OPENSSL_GROUP_ALIASES.get(name.lower(), name))
    return item.name if item else name


T = TypeVar("T")


def _blocking(operation: Callable[[], T], sock: socket.socket, deadline: float) -> T:
    """Run a pyOpenSSL call on a non-blocking socket until it completes or the deadline passes."""
    while True:
        try:
            return operation()
        except SSL.WantReadError:
            wait_read = True
        except SSL.WantWriteError:
            wait_read = False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("handshake timed out")
        readable, writable, _ = select.select(
            [sock] if wait_read else [], [] if wait_read else [sock], [], remaining
        )
        if not readable and not writable:
            raise TimeoutError("handshake timed out")


def _context() -> SSL.Context:
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    with contextlib.suppress(SSL.Error, ValueError):
        context.set_min_proto_version(0)  # anything the library still speaks
    with contextlib.suppress(SSL.Error):
        context.set_cipher_list(b"ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return context


def full_handshake(
    host: str,
    port: int,
    server_name: str | None,
    *,
    timeout: float = 5.0,
    starttls: StartTLS | None = None,
) -> FullHandshake:
    """Handshake once (SNI = `server_name`), then close. Never raises: failures are in `error`."""
    deadline = time.monotonic() + timeout
    states: list[str] = []
    try:
        sock = socket.create_connection((host.strip("[]"), port), timeout=timeout)
    except OSError as exc:
        return FullHandshake(error=f"connect failed: {exc.__class__.__name__}: {exc}")
    connection: SSL.Connection | None = None
    try:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        if starttls is not None:
            try:
                starttls.negotiate_blocking(sock, deadline)
            except StartTLSError as exc:
                return FullHandshake(error=str(exc))
        staples: list[bytes] = []

        def keep_staple(conn: SSL.Connection, der: bytes, data: object) -> bool:
            staples.append(der)
            return True

        context = _context()
        context.set_ocsp_client_callback(keep_staple)
        connection = SSL.Connection(context, sock)
        connection.request_ocsp()  # status_request: the staple is judged later, never here
        connection.set_info_callback(
            lambda conn, where, ret: states.append(conn.get_state_string().decode(errors="replace"))
        )
        if server_name:
            with contextlib.suppress(ValueError, SSL.Error):
                connection.set_tlsext_host_name(server_name.encode("idna"))
        connection.set_connect_state()
        sock.setblocking(False)
        error: str | None = None
        required = False
        try:
            _blocking(connection.do_handshake, sock, deadline)
        except SSL.Error as exc:
            error = f"handshake failed: {exc}"
            required = any("certificate request" in state for state in states) and any(
                marker in str(exc) for marker in _CLIENT_CERT_ALERTS
            )
        requested = any("certificate request" in state for state in states)
        if error is None and requested:
            # TLS 1.3 servers demand the certificate after the client's Finished: read once to see
            try:
                _blocking(lambda: connection.recv(1), sock, min(deadline, time.monotonic() + 1.0))
            except SSL.Error as exc:
                required = any(marker in str(exc) for marker in _CLIENT_CERT_ALERTS)
            except OSError:
                pass  # timed out: no demand for a certificate
        chain = connection.get_peer_cert_chain(as_cryptography=True) or []
        version = connection.get_protocol_version_name() if error is None else None
        return FullHandshake(
            version=version if version and version != "Unknown" else None,
            cipher=_iana_cipher(connection.get_cipher_name()) if error is None else None,
            group=_iana_group(_group_name(connection)) if error is None else None,
            certificates=tuple(chain),
            certificate_requested=requested,
            client_cert_required=required,
            error=None if required else error,
            ocsp_staple=staples[0] if staples else (b"" if error is None else None),
        )
    except TimeoutError:
        return FullHandshake(error=f"handshake timed out after {timeout:g}s")
    except (OSError, SSL.Error) as exc:
        return FullHandshake(error=f"{exc.__class__.__name__}: {exc}")
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.shutdown()
        sock.close()


def _group_name(connection: SSL.Connection) -> str | None:
    getter = getattr(connection, "get_group_name", None)
    if getter is None:
        return None
    try:
        name = getter()
    except (SSL.Error, ValueError):
        return None
    return name.decode() if isinstance(name, bytes) else name
