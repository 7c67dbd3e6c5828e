"""Foundations of the lab peers, and the non-TLS shapes a port can have.

Every server binds 127.0.0.1 (or ::1) on an ephemeral port, is a context manager,
and leaves no process or thread behind when it stops.

- :class:`LoopbackServer` — the base: ``start``/``stop``, ``address``, ``expected()``.
- :class:`ThreadedServer` (accept loop + a thread per connection) and
  :class:`ProcessServer` (a child process with its output drained).
- :class:`PlainHTTPServer`, :class:`BannerServer`, :class:`SilentServer`,
  :func:`closed_port` — plaintext HTTP, a plaintext line protocol, a port that
  accepts and never answers, a port nothing listens on.
- :class:`CountingProxy` — a TCP relay that counts the connections a client opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from inspector.lab.tls_truth import ExpectedTLS

LOOPBACK_V4 = "127.0.0.1"
LOOPBACK_V6 = "::1"

#: How long a server may take to start listening before we give up.
START_TIMEOUT_S = 20.0


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


def recv_some(conn: socket.socket, limit: int = 65536, timeout: float = 10.0) -> bytes:
    """Whatever the peer sends first (b"" on EOF or timeout)."""
    conn.settimeout(timeout)
    try:
        return conn.recv(limit)
    except OSError:
        return b""


def hold_until_closed(conn: socket.socket, stopping: threading.Event) -> None:
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


class ThreadedServer(LoopbackServer):
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


class SilentServer(ThreadedServer):
    """Accepts connections and never sends a byte (a port that "hangs")."""

    name = "silent"

    def handle(self, conn: socket.socket) -> None:
        hold_until_closed(conn, self._stopping)


class BannerServer(ThreadedServer):
    """A plaintext line protocol: a banner on connect, ``ERR`` to anything sent."""

    name = "banner"

    def __init__(
        self, banner: bytes = b"cryptoscope-lab line service ready\r\n", host: str = LOOPBACK_V4
    ) -> None:
        super().__init__(host)
        self.banner = banner

    def handle(self, conn: socket.socket) -> None:
        conn.sendall(self.banner)
        if recv_some(conn):
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
