"""The agent's HTTPS endpoint: /healthz, /readyz, /metrics and /snapshot.

TLS 1.2 or newer only (we practise what we check), with a certificate from
files (a mounted secret) or a self-signed one made at start. /healthz,
/readyz and /metrics are open; /snapshot needs a bearer token that passes
TokenReview and SubjectAccessReview (:mod:`agent.auth`) and streams a
consistent copy of the database made with SQLite's online backup API.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import ipaddress
import logging
import os
import shutil
import socket
import sqlite3
import ssl
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agent.auth import Authorizer

log = logging.getLogger(__name__)

SNAPSHOT_MEDIA_TYPE = "application/vnd.sqlite3"
#: Provenance headers on /snapshot (collect stores them with the merged data).
HEADER_AGENT = "X-Cryptoscope-Agent"
HEADER_NODE = "X-Cryptoscope-Node"
HEADER_SNAPSHOT_TIME = "X-Cryptoscope-Snapshot-Time"


# --------------------------------------------------------------------------- metrics


@dataclasses.dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did, for the metrics."""

    status: str  # ok | partial | failed | interrupted
    duration_s: float
    finished_at: float  # epoch seconds
    endpoints_by_transport: Mapping[str, int] = dataclasses.field(default_factory=dict)
    #: (severity, requirement) -> findings seen in this cycle
    findings: Mapping[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    endpoint_durations: tuple[float, ...] = ()


class AgentMetrics:
    """Prometheus metrics of one agent, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.endpoints = Gauge(
            "cryptoscope_endpoints",
            "Endpoints probed in the last cycle, by transport",
            ["transport"],
            registry=self.registry,
        )
        self.findings = Gauge(
            "cryptoscope_findings",
            "Findings seen in the last cycle, by severity and PCI DSS requirement",
            ["severity", "requirement"],
            registry=self.registry,
        )
        self.endpoint_seconds = Histogram(
            "cryptoscope_endpoint_scan_duration_seconds",
            "Time spent probing one endpoint",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.cycle_seconds = Histogram(
            "cryptoscope_cycle_duration_seconds",
            "Time one discover-probe-rules-store cycle took",
            buckets=(1, 5, 15, 30, 60, 120, 240, 600),
            registry=self.registry,
        )
        self.cycles = Counter(
            "cryptoscope_cycles", "Cycles run, by status", ["status"], registry=self.registry
        )
        self.last_success = Gauge(
            "cryptoscope_last_successful_run_timestamp_seconds",
            "When the last ok or partial cycle finished (Unix time)",
            registry=self.registry,
        )
        self.api_errors = Counter(
            "cryptoscope_kubernetes_api_errors",
            "Kubernetes API errors met by the agent",
            registry=self.registry,
        )

    def observe(self, report: CycleReport) -> None:
        self.cycles.labels(report.status).inc()
        self.cycle_seconds.observe(report.duration_s)
        for duration in report.endpoint_durations:
            self.endpoint_seconds.observe(duration)
        if report.status in ("ok", "partial"):
            self.last_success.set(report.finished_at)
            self.endpoints.clear()
            for transport, count in report.endpoints_by_transport.items():
                self.endpoints.labels(transport).set(count)
            self.findings.clear()
            for (severity, requirement), count in report.findings.items():
                self.findings.labels(severity, requirement).set(count)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))


# --------------------------------------------------------------------------- health


class Health:
    """Liveness: the loop beat recently. Readiness: a cycle has completed (ok or partial)."""

    def __init__(self, stale_after: float) -> None:
        self.stale_after = stale_after
        self._beat = time.monotonic()
        self.ready = False

    def beat(self) -> None:
        self._beat = time.monotonic()

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._beat < self.stale_after


# --------------------------------------------------------------------------- TLS


def _self_signed(names: Iterable[str]) -> tuple[bytes, bytes]:
    """A throw-away EC P-256 certificate for the endpoint; (cert PEM, key PEM). Never written to the store."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    dns: list[x509.GeneralName] = []
    for name in dict.fromkeys(filter(None, names)):
        try:
            dns.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            dns.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cryptoscope agent")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName(dns), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(
    cert_file: str = "", key_file: str = "", names: Iterable[str] = ("localhost",)
) -> ssl.SSLContext:
    """TLS 1.2+ server context: the given files, or a self-signed certificate made now."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # TLS 1.2: forward secret AEAD only
    context.options |= ssl.OP_NO_COMPRESSION
    if cert_file or key_file:
        context.load_cert_chain(cert_file, key_file or None)
        return context
    cert_pem, key_pem = _self_signed(names)
    with tempfile.TemporaryDirectory(prefix="cryptoscope-tls-") as directory:
        cert_path = os.path.join(directory, "tls.crt")
        key_path = os.path.join(directory, "tls.key")
        Path(cert_path).write_bytes(cert_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context


# --------------------------------------------------------------------------- snapshot


def write_snapshot(db_path: Path, destination: Path) -> None:
    """A consistent copy of the database (SQLite online backup; readers and the writer go on)."""
    source = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        target = sqlite3.connect(str(destination))
        try:
            source.backup(target)
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
    finally:
        source.close()


# --------------------------------------------------------------------------- the server


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep:
        raise ValueError(f"listen address needs HOST:PORT: {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


class AgentServer:
    def __init__(
        self,
        *,
        listen: str,
        db_path: Path,
        metrics: AgentMetrics,
        health: Health,
        authorizer: Authorizer | None,
        context: ssl.SSLContext,
        provenance: Mapping[str, str],
    ) -> None:
        self.db_path = db_path
        self.metrics = metrics
        self.health = health
        self.authorizer = authorizer
        self.provenance = dict(provenance)
        host, port = parse_listen(listen)
        server_class = _ServerClass6 if ":" in host else _ServerClass
        self._httpd = server_class((host, port), _Handler)
        self._httpd.agent = self
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> AgentServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="agent-https", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)


class _ServerClass(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    agent: AgentServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("HTTPS client %s: connection error", client_address)


class _ServerClass6(_ServerClass):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ServerClass
    timeout = 60

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _text(self, code: int, text: str, content_type: str = "text/plain; charset=utf-8") -> None:
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if code == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="cryptoscope"')
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        agent = self.server.agent
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._text(
                200 if agent.health.alive else 503,
                "ok\n" if agent.health.alive else "loop stalled\n",
            )
        elif path == "/readyz":
            self._text(
                200 if agent.health.ready else 503,
                "ready\n" if agent.health.ready else "no cycle yet\n",
            )
        elif path == "/metrics":
            self._text(200, agent.metrics.render().decode(), CONTENT_TYPE_LATEST)
        elif path == "/snapshot":
            self._snapshot()
        else:
            self._text(404, "not found\n")

    def _snapshot(self) -> None:
        agent = self.server.agent
        if agent.authorizer is None:
            self._text(503, "snapshot disabled: no Kubernetes API access to authorise callers\n")
            return
        decision = agent.authorizer.decide(self.headers.get("Authorization"))
        if not decision.allowed:
            log.info("/snapshot refused (%s): %s", decision.status, decision.reason)
            self._text(decision.status, decision.reason + "\n")
            return
        if not agent.db_path.exists():
            self._text(503, "no database yet\n")
            return
        with tempfile.TemporaryDirectory(prefix="cryptoscope-snapshot-") as directory:
            snapshot = Path(directory) / "snapshot.db"
            taken = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            try:
                write_snapshot(agent.db_path, snapshot)
            except sqlite3.Error as exc:
                self._text(500, f"snapshot failed: {exc}\n")
                return
            log.info("/snapshot served to %s", decision.user)
            self.send_response(200)
            self.send_header("Content-Type", SNAPSHOT_MEDIA_TYPE)
            self.send_header("Content-Length", str(snapshot.stat().st_size))
            self.send_header(
                "Content-Disposition", 'attachment; filename="cryptoscope-snapshot.db"'
            )
            self.send_header(HEADER_SNAPSHOT_TIME, taken)
            for header, value in ((HEADER_AGENT, "agent_id"), (HEADER_NODE, "node")):
                self.send_header(header, agent.provenance.get(value, ""))
            self.end_headers()
            with snapshot.open("rb") as handle:
                shutil.copyfileobj(handle, self.wfile, 256 * 1024)
