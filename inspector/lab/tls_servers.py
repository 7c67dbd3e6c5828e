"""Real loopback peers for tests, the demo and the scan benchmark.

Every server here binds 127.0.0.1 (or ::1) on an ephemeral port, is a context
manager, and leaves no process or thread behind when it stops::

    with OpenSSLServer(pem, cipher="AES128-SHA", min_version="TLSv1.0") as server:
        scan(server.host, server.port)

- :class:`OpenSSLServer` — the system ``openssl s_server`` (OpenSSL 3.0).
- :class:`PyOpenSSLServer` — pyOpenSSL on the OpenSSL inside ``cryptography``
  (TLS 1.3 with the ML-KEM hybrids); Python only, no binary needed.
- :class:`TlsliteServer` — tlslite-ng, for SSL 3.0 and RC4 / 3DES suites.
- :class:`NginxServer` — nginx with ``ssl_protocols`` / ``ssl_ciphers``.
- :class:`PlainHTTPServer`, :class:`BannerServer`, :class:`SilentServer`,
  :func:`closed_port` — the non-TLS shapes a port can have.
- :class:`HostileServer` with a :class:`Hostility` — broken or malicious TLS peers.
- :class:`CountingProxy` — a TCP relay that counts the connections a client opens.

Nothing here stores or logs key material: keys live in files the caller wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from inspector.lab.pki import PemFiles
from inspector.lab.tls_truth import (
    OPENSSL_PROTOCOLS,
    ExpectedTLS,
    certificate_auth,
    cipher_usable_at,
    expected_groups,
    openssl_binary,
    openssl_ciphers,
    openssl_expected,
    usable_with_auth,
    versions_between,
)

LOOPBACK_V4 = "127.0.0.1"
LOOPBACK_V6 = "::1"

#: How long a server may take to start listening before we give up.
START_TIMEOUT_S = 20.0

#: Version names as used in agent.tls.model.PROTOCOL_NAMES → OpenSSL's SSL_CONF names.
_OPENSSL_PROTOCOL_NAMES = {
    "SSLv3": "SSLv3",
    "TLSv1.0": "TLSv1",
    "TLSv1.1": "TLSv1.1",
    "TLSv1.2": "TLSv1.2",
    "TLSv1.3": "TLSv1.3",
}


class LabServerError(RuntimeError):
    """A lab server could not start (with the reason and its output)."""


class LoopbackServer:
    """Base of every lab server: ``start``/``stop`` and the context-manager protocol."""

    host: str = LOOPBACK_V4
    port: int = 0

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def expected(self) -> ExpectedTLS:
        """What a correct scan of this server reports (TLS peers override this)."""
        raise NotImplementedError(f"{type(self).__name__} is not a TLS peer with a known truth")

    @property
    def address(self) -> str:
        """``host:port`` (``[::1]:port`` for IPv6), as ``cryptoscope scan`` takes it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def __enter__(self) -> LoopbackServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def closed_port(host: str = LOOPBACK_V4) -> int:
    """A port on `host` that nothing listens on (bound, then released)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- threads


class _Listener:
    """A listening socket whose accept loop hands each connection to `handle` in a thread.

    Tracks open connections so that :meth:`close` can unblock and join them.
    """

    def __init__(self, host: str, handle: Callable[[socket.socket], None], name: str) -> None:
        self._handle = handle
        self._name = name
        self._sock = socket.socket(_family(host), socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(128)
        self.port: int = self._sock.getsockname()[1]
        self.accepted = 0
        self._open: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._accept_loop, name=f"{name}-accept", daemon=True
        )
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                if self._stopping.is_set():
                    conn.close()
                    return
                self.accepted += 1
                self._open.add(conn)
                thread = threading.Thread(
                    target=self._run, args=(conn,), name=f"{self._name}-conn", daemon=True
                )
                self._threads.add(thread)
            thread.start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self._handle(conn)
        except Exception:  # noqa: BLE001 - a peer's misbehaviour must not kill the server
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
                self._threads.discard(threading.current_thread())
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)
        with self._lock:
            conns = list(self._open)
            threads = list(self._threads)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)


def _recv_some(conn: socket.socket, limit: int = 65536, timeout: float = 10.0) -> bytes:
    """Whatever the peer sends first (b"" on EOF or timeout)."""
    conn.settimeout(timeout)
    try:
        return conn.recv(limit)
    except OSError:
        return b""


def _hold_until_closed(conn: socket.socket, stopping: threading.Event) -> None:
    """Read and discard until the peer closes or the server stops."""
    conn.settimeout(0.5)
    while not stopping.is_set():
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue
        except OSError:
            return


class _ThreadedServer(LoopbackServer):
    """A server made of a :class:`_Listener` and a per-connection `handle` method."""

    name = "lab"

    def __init__(self, host: str = LOOPBACK_V4) -> None:
        self.host = host
        self._listener: _Listener | None = None

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    @property
    def accepted(self) -> int:
        """TCP connections accepted so far."""
        return self._listener.accepted if self._listener else 0

    @property
    def _stopping(self) -> threading.Event:
        assert self._listener is not None
        return self._listener.stopping

    def start(self) -> None:
        self._listener = _Listener(self.host, self.handle, self.name)
        self.port = self._listener.port

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


# --------------------------------------------------------------------------- plaintext shapes


class SilentServer(_ThreadedServer):
    """Accepts connections and never sends a byte (a port that "hangs")."""

    name = "silent"

    def handle(self, conn: socket.socket) -> None:
        _hold_until_closed(conn, self._stopping)


class BannerServer(_ThreadedServer):
    """A plaintext line protocol: a banner on connect, ``ERR`` to anything sent."""

    name = "banner"

    def __init__(
        self, banner: bytes = b"cryptoscope-lab line service ready\r\n", host: str = LOOPBACK_V4
    ) -> None:
        super().__init__(host)
        self.banner = banner

    def handle(self, conn: socket.socket) -> None:
        conn.sendall(self.banner)
        if _recv_some(conn):
            conn.sendall(b"ERR unknown command\r\n")


class _QuietHandler(BaseHTTPRequestHandler):
    server_version = "cryptoscope-lab/1"

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        body = b"cryptoscope lab plaintext HTTP\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base
        return


class _LabHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _LabHTTPServerV6(_LabHTTPServer):
    address_family = socket.AF_INET6


class PlainHTTPServer(LoopbackServer):
    """Plaintext HTTP/1.x (``http.server``), answering 400 to a TLS ClientHello."""

    def __init__(self, host: str = LOOPBACK_V4) -> None:
        self.host = host
        self._server: _LabHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        cls = _LabHTTPServerV6 if ":" in self.host else _LabHTTPServer
        self._server = cls((self.host, 0), _QuietHandler)
        self._server.timeout = 10
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.2,), name="plain-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None


# --------------------------------------------------------------------------- hostile TLS peers


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


class HostileServer(_ThreadedServer):
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
        if not _recv_some(conn):
            return
        conn.settimeout(10)
        getattr(self, "_" + self.behaviour.value.replace("-", "_"))(conn)

    def _garbage(self, conn: socket.socket) -> None:
        conn.sendall(_garbage())
        _hold_until_closed(conn, self._stopping)

    def _truncated_record(self, conn: socket.socket) -> None:
        hello = plausible_server_hello()
        conn.sendall(struct.pack("!BHH", 22, 0x0303, 0x0200) + hello[5:25])
        conn.shutdown(socket.SHUT_WR)
        _hold_until_closed(conn, self._stopping)

    def _oversized_record(self, conn: socket.socket) -> None:
        conn.sendall(struct.pack("!BHH", 22, 0x0303, 0xFFFF) + b"\x02" + b"\x00" * 4096)
        _hold_until_closed(conn, self._stopping)

    def _wrong_handshake_type(self, conn: socket.socket) -> None:
        # Certificate (11) with an empty certificate list, where ServerHello (2) belongs.
        conn.sendall(_record(22, _handshake(11, b"\x00\x00\x00")))
        _hold_until_closed(conn, self._stopping)

    def _slow_drip(self, conn: socket.socket) -> None:
        for byte in plausible_server_hello():
            if self._stopping.wait(self.drip_interval):
                return
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                return
        _hold_until_closed(conn, self._stopping)

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


# --------------------------------------------------------------------------- openssl s_server


def _pem_blocks(text: str) -> list[str]:
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


def primary_group(user: str) -> int:
    """Primary group id of `user` (to drop privileges to it)."""
    import pwd

    return pwd.getpwnam(user).pw_gid


class ProcessServer(LoopbackServer):
    """A child process whose output is drained into a short tail (for error messages)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._tail: deque[str] = deque(maxlen=40)
        self._drain: threading.Thread | None = None

    @property
    def output_tail(self) -> str:
        return "\n".join(self._tail)

    def _spawn(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        user: str | None = None,
    ) -> None:
        self._proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=primary_group(user) if user else None,
            extra_groups=[] if user else None,
        )

    def _lines(self) -> Iterator[str]:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self._tail.append(line)
            yield line

    def _drain_rest(self, lines: Iterator[str]) -> None:
        def run() -> None:
            for _ in lines:
                pass

        self._drain = threading.Thread(target=run, name="lab-drain", daemon=True)
        self._drain.start()

    def _terminate(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._drain is not None:
            self._drain.join(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        self._proc = None


class OpenSSLServer(ProcessServer):
    """``openssl s_server -www`` on an ephemeral loopback port.

    `cipher` is the TLS ≤ 1.2 cipher string (``:@SECLEVEL=0`` is appended unless
    the string names a level); `ciphersuites` the TLS 1.3 list (None: OpenSSL's
    default); `min_version` / `max_version` use :data:`agent.tls.model.PROTOCOL_NAMES`
    names. `verify_client` demands a client certificate (mTLS) issued by `pem.ca`.
    """

    def __init__(
        self,
        pem: PemFiles,
        *,
        cipher: str = "DEFAULT",
        ciphersuites: str | None = None,
        min_version: str | None = None,
        max_version: str | None = None,
        server_preference: bool = False,
        groups: str | None = None,
        verify_client: bool = False,
        dhparam: Path | None = None,
        extra_args: Sequence[str] = (),
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__()
        self.pem = pem
        self.cipher = cipher if "@SECLEVEL" in cipher else f"{cipher}:@SECLEVEL=0"
        self.ciphersuites = ciphersuites
        self.min_version = min_version
        self.max_version = max_version
        self.server_preference = server_preference
        self.groups = groups
        self.verify_client = verify_client
        self.dhparam = dhparam
        self.extra_args = tuple(extra_args)
        self.host = host
        self._workdir: Path | None = None
        self._chain_file: Path | None = None

    def argv(self) -> list[str]:
        binary = openssl_binary()
        if binary is None:
            raise LabServerError("the openssl command is not installed")
        accept = f"[{self.host}]:0" if ":" in self.host else f"{self.host}:0"
        argv = [binary, "s_server", "-accept", accept, "-www", "-cert", str(self.pem.cert)]
        argv += ["-key", str(self.pem.key), "-cipher", self.cipher]
        if self._chain_file is not None:
            argv += ["-cert_chain", str(self._chain_file)]
        if self.ciphersuites is not None:
            argv += ["-ciphersuites", self.ciphersuites]
        if self.min_version:
            argv += ["-min_protocol", _OPENSSL_PROTOCOL_NAMES[self.min_version]]
        if self.max_version:
            argv += ["-max_protocol", _OPENSSL_PROTOCOL_NAMES[self.max_version]]
        if self.server_preference:
            argv.append("-serverpref")
        if self.groups:
            argv += ["-groups", self.groups]
        if self.verify_client:
            argv += ["-Verify", "1", "-CAfile", str(self.pem.ca)]
        if self.dhparam is not None:
            argv += ["-dhparam", str(self.dhparam)]
        return argv + list(self.extra_args)

    def expected(self) -> ExpectedTLS:
        """Truth from this server's own flags (``openssl ciphers -s -V`` per version)."""
        return openssl_expected(
            self.pem,
            self.cipher,
            versions=versions_between(self.min_version, self.max_version, OPENSSL_PROTOCOLS),
            ciphersuites=self.ciphersuites,
            server_preference=self.server_preference,
            groups=self.groups,
            transport="tls-client-cert-required" if self.verify_client else "tls",
        )

    def start(self) -> None:
        # s_server reads only the first certificate of -cert: the rest go to -cert_chain.
        extra = _pem_blocks(self.pem.cert.read_text())[1:]
        if extra:
            self._workdir = Path(tempfile.mkdtemp(prefix="cryptoscope-s_server-"))
            self._chain_file = self._workdir / "chain.pem"
            self._chain_file.write_text("".join(extra))
        self._spawn(self.argv())
        lines = self._lines()
        port = wait_for_line(
            lines, re.compile(r"^ACCEPT .*:(\d+)$"), self._proc, "openssl s_server"
        )
        if port is None:
            tail = self.output_tail
            self._terminate()
            raise LabServerError(f"openssl s_server did not start:\n{tail}")
        self.port = int(port)
        self._drain_rest(lines)
        wait_until_connectable(self.host, self.port)

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = self._chain_file = None


def wait_for_line(
    lines: Iterator[str],
    pattern: re.Pattern[str],
    proc: subprocess.Popen[bytes] | None,
    what: str,
) -> str | None:
    """The first group of the first line matching `pattern`, or None when the process ends.

    A watchdog kills the process if no such line comes within START_TIMEOUT_S.
    """
    found = threading.Event()

    def watchdog() -> None:
        if not found.wait(START_TIMEOUT_S) and proc is not None and proc.poll() is None:
            proc.kill()

    guard = threading.Thread(target=watchdog, name=f"{what}-watchdog", daemon=True)
    guard.start()
    try:
        for line in lines:
            match = pattern.match(line)
            if match:
                return match.group(1)
        return None
    finally:
        found.set()
        guard.join(1)


def wait_until_connectable(host: str, port: int, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise LabServerError(f"{host}:{port} does not accept connections") from None
            time.sleep(0.05)


# --------------------------------------------------------------------------- pyOpenSSL


#: PROTOCOL_NAMES → pyOpenSSL protocol-version constants (filled lazily: import cost).
def _pyopenssl_version(name: str) -> int:
    from OpenSSL import SSL

    table = {
        "TLSv1.0": SSL.TLS1_VERSION,
        "TLSv1.1": SSL.TLS1_1_VERSION,
        "TLSv1.2": SSL.TLS1_2_VERSION,
        "TLSv1.3": SSL.TLS1_3_VERSION,
    }
    return table[name]


class PyOpenSSLServer(_ThreadedServer):
    """A threaded TLS server on pyOpenSSL (the OpenSSL that ``cryptography`` bundles).

    `cipher_list` is the TLS ≤ 1.2 string, `tls13_ciphersuites` the TLS 1.3 list,
    `groups` an OpenSSL group list (e.g. ``"X25519MLKEM768:SecP256r1MLKEM768:X25519"``);
    None keeps the library default for each. `client_ca` demands a client
    certificate issued by that CA (mTLS). After the handshake it answers one
    HTTP request. Needs no ``openssl`` binary.
    """

    name = "pyopenssl"

    def __init__(
        self,
        pem: PemFiles,
        *,
        min_version: str | None = None,
        max_version: str | None = None,
        cipher_list: str | None = None,
        tls13_ciphersuites: str | None = None,
        groups: str | None = None,
        server_preference: bool = False,
        client_ca: Path | None = None,
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__(host)
        self.pem = pem
        self.min_version = min_version
        self.max_version = max_version
        self.cipher_list = cipher_list
        self.tls13_ciphersuites = tls13_ciphersuites
        self.groups = groups
        self.server_preference = server_preference
        self.client_ca = client_ca
        self.handshakes = 0
        #: (version, cipher, group) of the last completed handshake.
        self.last_negotiated: tuple[str, str, str | None] | None = None
        self._context: Any = None

    def context(self) -> Any:
        """The ``OpenSSL.SSL.Context`` this server uses (built once)."""
        if self._context is None:
            self._context = self._build_context()
        return self._context

    def _build_context(self) -> Any:
        from OpenSSL import SSL
        from OpenSSL._util import lib

        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.use_certificate_chain_file(str(self.pem.cert))
        ctx.use_privatekey_file(str(self.pem.key))
        ctx.check_privatekey()
        if self.min_version:
            ctx.set_min_proto_version(_pyopenssl_version(self.min_version))
        if self.max_version:
            ctx.set_max_proto_version(_pyopenssl_version(self.max_version))
        if self.cipher_list is not None:
            ctx.set_cipher_list(self.cipher_list.encode())
        if self.tls13_ciphersuites is not None:
            ctx.set_tls13_ciphersuites(self.tls13_ciphersuites.encode())
        # pyOpenSSL has no set_groups; curves_list is OpenSSL's alias of groups_list.
        if (
            self.groups is not None
            and lib.SSL_CTX_set1_curves_list(ctx._context, self.groups.encode()) != 1
        ):
            raise LabServerError(f"OpenSSL refused the group list {self.groups!r}")
        options = SSL.OP_NO_TICKET
        if self.server_preference:
            options |= SSL.OP_CIPHER_SERVER_PREFERENCE
        ctx.set_options(options)
        if self.client_ca is not None:
            ctx.load_verify_locations(str(self.client_ca))
            ctx.set_verify(
                SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                lambda conn, cert, errno, depth, ok: bool(ok),
            )
        return ctx

    def cipher_names(self) -> list[str]:
        """OpenSSL names of every suite this server's configuration enables (TLS 1.3 first)."""
        from OpenSSL import SSL

        return [str(name) for name in SSL.Connection(self.context(), None).get_cipher_list()]

    def expected(self) -> ExpectedTLS:
        """Truth from this server's own context: its cipher list (pyOpenSSL) and settings.

        An unset `min_version` counts as TLS 1.2 (OpenSSL's default security level
        refuses older versions). Suite ids come from ``openssl ciphers -V``.
        """
        by_name = {
            item.name: item
            for item in openssl_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0", supported_only=False)
        }
        by_name.update({item.name: item for item in openssl_ciphers("ALL", version="TLSv1.3")})
        auth = certificate_auth(self.pem)
        listed = [by_name[name] for name in self.cipher_names() if name in by_name]
        versions = versions_between(
            self.min_version or "TLSv1.2", self.max_version, OPENSSL_PROTOCOLS
        )
        suites: dict[str, tuple[int, ...]] = {}
        for version in versions:
            usable = tuple(
                item.suite_id
                for item in listed
                if usable_with_auth(item, auth) and cipher_usable_at(item, version)
            )
            if usable:
                suites[version] = usable
        ecdhe = any(item.name.startswith("ECDHE-") for item in listed)
        transport = "tls-client-cert-required" if self.client_ca else "tls"
        return ExpectedTLS(
            suites, self.server_preference, expected_groups(self.groups, suites, ecdhe), transport
        )

    def start(self) -> None:
        self.context()
        super().start()

    def handle(self, conn: socket.socket) -> None:
        from OpenSSL import SSL

        conn.settimeout(None)
        # Blocking I/O with a receive timeout at the socket level, so a client that
        # goes quiet releases the thread; stop() shuts the socket down to unblock it.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 10, 0))
        tls = SSL.Connection(self.context(), conn)
        tls.set_accept_state()
        try:
            tls.do_handshake()
        except (SSL.Error, OSError):
            return
        self.handshakes += 1
        group = tls.get_group_name() if hasattr(tls, "get_group_name") else None
        self.last_negotiated = (
            str(tls.get_protocol_version_name()),
            str(tls.get_cipher_name()),
            str(group) if group else None,
        )
        try:
            tls.recv(65536)
            body = b"cryptoscope lab pyOpenSSL\n"
            tls.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            tls.shutdown()
        except (SSL.Error, OSError):
            return


# --------------------------------------------------------------------------- tlslite-ng

_TLSLITE_VERSIONS = {"SSLv3": (3, 0), "TLSv1.0": (3, 1), "TLSv1.1": (3, 2), "TLSv1.2": (3, 3)}


class TlsliteServer(_ThreadedServer):
    """A tlslite-ng server: SSL 3.0 … TLS 1.2 with RC4, 3DES and MD5 where asked.

    Needs an RSA certificate. The server imposes its own suite order (tlslite
    picks the first of its list that the client offers).
    """

    name = "tlslite"

    def __init__(
        self,
        pem: PemFiles,
        *,
        min_version: str = "SSLv3",
        max_version: str = "TLSv1.1",
        cipher_names: Sequence[str] = ("aes256", "aes128", "3des", "rc4"),
        mac_names: Sequence[str] = ("sha", "md5"),
        key_exchange_names: Sequence[str] = ("rsa",),
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__(host)
        self.pem = pem
        self.min_version = min_version
        self.max_version = max_version
        self.cipher_names = tuple(cipher_names)
        self.mac_names = tuple(mac_names)
        self.key_exchange_names = tuple(key_exchange_names)
        self._settings: Any = None
        self._chain: Any = None
        self._key: Any = None

    def settings(self) -> Any:
        """The validated ``tlslite.HandshakeSettings`` of this server."""
        if self._settings is None:
            from tlslite import HandshakeSettings

            settings = HandshakeSettings()
            settings.minVersion = _TLSLITE_VERSIONS[self.min_version]
            settings.maxVersion = _TLSLITE_VERSIONS[self.max_version]
            settings.cipherNames = list(self.cipher_names)
            settings.macNames = list(self.mac_names)
            settings.keyExchangeNames = list(self.key_exchange_names)
            self._settings = settings.validate()
        return self._settings

    def certificate_chain(self) -> Any:
        if self._chain is None:
            from tlslite import X509CertChain

            chain = X509CertChain()
            chain.parsePemList(self.pem.cert.read_text())
            self._chain = chain
        return self._chain

    def suite_ids(self, version: str) -> list[int]:
        """The suite ids this server accepts at `version`, in its preference order (tlslite's own logic)."""
        from tlslite.constants import CipherSuite

        settings = self.settings()
        wire = _TLSLITE_VERSIONS[version]
        if not settings.minVersion <= wire <= settings.maxVersion:
            return []
        suites = CipherSuite.getCertSuites(settings, wire)
        suites = CipherSuite.filterForVersion(suites, minVersion=wire, maxVersion=wire)
        return list(CipherSuite.filter_for_certificate(suites, self.certificate_chain()))

    def expected(self) -> ExpectedTLS:
        """Truth from tlslite's own suite tables for these settings; tlslite imposes its order."""
        suites = {
            version: tuple(ids) for version in _TLSLITE_VERSIONS if (ids := self.suite_ids(version))
        }
        groups: frozenset[str] | None = (
            None if set(self.key_exchange_names) - {"rsa"} else frozenset()
        )
        return ExpectedTLS(suites, True, groups)

    def start(self) -> None:
        from tlslite import parsePEMKey

        self.settings()
        self.certificate_chain()
        self._key = parsePEMKey(self.pem.key.read_text(), private=True)
        super().start()

    def handle(self, conn: socket.socket) -> None:
        from tlslite import TLSConnection
        from tlslite.errors import TLSError

        conn.settimeout(10)
        tls = TLSConnection(conn)
        try:
            tls.handshakeServer(
                certChain=self._chain, privateKey=self._key, settings=self._settings
            )
            tls.read(max=65536)
            tls.write(
                b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\ncryptoscope lab tlslite\n"
            )
            tls.close()
        except (TLSError, OSError, ValueError, AssertionError):
            return


# --------------------------------------------------------------------------- nginx


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx",) if os.access(path, os.X_OK)), None
    )


class NginxServer(ProcessServer):
    """nginx (one process, no daemon) terminating TLS with the given directives."""

    def __init__(
        self,
        pem: PemFiles,
        *,
        ssl_protocols: str = "TLSv1.2 TLSv1.3",
        ssl_ciphers: str = "HIGH:!aNULL",
        prefer_server_ciphers: bool = True,
        ssl_ecdh_curve: str | None = None,
        ssl_dhparam: Path | None = None,
        host: str = LOOPBACK_V4,
    ) -> None:
        super().__init__()
        self.pem = pem
        self.ssl_dhparam = ssl_dhparam
        self.ssl_protocols = ssl_protocols
        self.ssl_ciphers = ssl_ciphers
        self.prefer_server_ciphers = prefer_server_ciphers
        self.ssl_ecdh_curve = ssl_ecdh_curve
        self.host = host
        self._workdir: Path | None = None

    def expected(self) -> ExpectedTLS:
        """Truth from ``ssl_protocols`` / ``ssl_ciphers`` / ``ssl_ecdh_curve`` (system OpenSSL)."""
        names = {
            "TLSv1": "TLSv1.0",
            "TLSv1.1": "TLSv1.1",
            "TLSv1.2": "TLSv1.2",
            "TLSv1.3": "TLSv1.3",
        }
        versions = [names[item] for item in self.ssl_protocols.split() if item in names]
        curve = self.ssl_ecdh_curve if self.ssl_ecdh_curve not in (None, "auto") else None
        return openssl_expected(
            self.pem,
            self.ssl_ciphers,
            versions=versions,
            server_preference=self.prefer_server_ciphers,
            groups=curve,
            # nginx uses no DHE suite without ssl_dhparam (since 1.11.0).
            finite_field_dhe=self.ssl_dhparam is not None,
        )

    def config(self, port: int, workdir: Path) -> str:
        listen = f"[{self.host}]:{port}" if ":" in self.host else f"{self.host}:{port}"
        curve = f"        ssl_ecdh_curve {self.ssl_ecdh_curve};\n" if self.ssl_ecdh_curve else ""
        if self.ssl_dhparam is not None:
            curve += f"        ssl_dhparam {self.ssl_dhparam};\n"
        return (
            "daemon off;\nmaster_process off;\nworker_processes 1;\n"
            f"pid {workdir}/nginx.pid;\nerror_log stderr warn;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            "    access_log off;\n"
            f"    client_body_temp_path {workdir}/body;\n    proxy_temp_path {workdir}/proxy;\n"
            f"    fastcgi_temp_path {workdir}/fastcgi;\n    uwsgi_temp_path {workdir}/uwsgi;\n"
            f"    scgi_temp_path {workdir}/scgi;\n"
            "    server {\n"
            f"        listen {listen} ssl;\n"
            f"        ssl_certificate {self.pem.cert};\n        ssl_certificate_key {self.pem.key};\n"
            f"        ssl_protocols {self.ssl_protocols};\n        ssl_ciphers '{self.ssl_ciphers}';\n"
            f"        ssl_prefer_server_ciphers {'on' if self.prefer_server_ciphers else 'off'};\n"
            f"{curve}"
            "        location / { return 200 'cryptoscope lab nginx\\n'; }\n"
            "    }\n"
            "}\n"
        )

    def start(self) -> None:
        binary = nginx_binary()
        if binary is None:
            raise LabServerError("nginx is not installed")
        workdir = Path(tempfile.mkdtemp(prefix="cryptoscope-nginx-"))
        self._workdir = workdir
        last_error = ""
        for _attempt in range(5):
            self.port = closed_port(self.host)
            conf = workdir / "nginx.conf"
            conf.write_text(self.config(self.port, workdir))
            self._spawn(
                [binary, "-p", str(workdir), "-c", str(conf), "-e", "stderr"], cwd=str(workdir)
            )
            lines = self._lines()
            self._drain_rest(lines)
            try:
                wait_until_connectable(self.host, self.port, timeout=5)
                return
            except LabServerError:
                self._terminate()
                last_error = self.output_tail
        self.stop()
        raise LabServerError(f"nginx did not start:\n{last_error}")

    def stop(self) -> None:
        self._terminate()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


# --------------------------------------------------------------------------- counting proxy


class CountingProxy(LoopbackServer):
    """A TCP relay in front of ``upstream``: counts the connections clients open.

    The count is taken where the connection is accepted, outside any scanner. Each
    side's EOF is passed on, so the upstream sees what the client does.
    """

    def __init__(self, upstream_host: str, upstream_port: int, host: str = LOOPBACK_V4) -> None:
        self.host = host
        self.upstream = (upstream_host, upstream_port)
        self.accepted = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        # Strong references: the loop keeps only weak ones to connection tasks.
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    def reset(self) -> None:
        self.accepted = 0

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        ends = [writer]
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            ends.append(up_writer)
            self._writers.add(up_writer)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except OSError:
            pass
        finally:
            for end in ends:
                end.close()
                self._writers.discard(end)
            self._tasks.discard(task)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop

        async def serve() -> None:
            self._server = await asyncio.start_server(self._client, self.host, 0)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        loop.run_until_complete(serve())
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        asyncio.get_running_loop().stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="counting-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise LabServerError("counting proxy did not start")

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = self._server = None
