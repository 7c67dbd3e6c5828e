"""The real loopback servers behind the demo's pods (the lab's TLS peers, Python only).

Each :class:`~inspector.demo.cluster.Backend` maps to one recipe: which
certificate it presents and how its TLS is configured. Everything is served by
pyOpenSSL (the OpenSSL 4 inside ``cryptography``) or ``http.server``, so the demo
needs no ``openssl`` binary; PostgreSQL is used only when it is installed.

Every leaf names the demo CA's loopback OCSP responder (:mod:`inspector.lab.revocation`)
in its AIA extension; a workload marked :attr:`~inspector.demo.cluster.Revocation.REVOKED`
gets a leaf the responder reports revoked, one marked ``STAPLED`` staples the
responder's answer (pyOpenSSL's ``Context.set_ocsp_server_callback``). A Gateway's
data plane (:class:`SniGatewayServer`) presents one certificate per route hostname,
picked by the SNI the client sends.

The legacy server speaks TLS 1.0 only, with static-RSA CBC suites (AES, Camellia,
SEED with SHA-1 MACs) at ``@SECLEVEL=0``. The OpenSSL 4 build inside
``cryptography`` has no 3DES or RC4 any more, so those do not appear in the demo
(the tests cover them with tlslite-ng, a test-only dependency).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from inspector.demo.cluster import Backend, Revocation, Workload, gateway_served_by
from inspector.lab import pki
from inspector.lab.revocation import RevocationResponder
from inspector.lab.tls_servers import (
    LabServerError,
    LoopbackServer,
    PlainHTTPServer,
    PyOpenSSLServer,
)

try:
    from inspector.lab.postgres import PostgresServer, postgres_bindir
except ImportError:  # older layout: PostgreSQL lived in tls_servers
    from inspector.lab.tls_servers import (  # type: ignore[attr-defined,no-redef]
        PostgresServer,
        postgres_bindir,
    )

#: Static-RSA CBC suites with SHA-1 MACs: what a 2010-era TLS 1.0 server offered.
LEGACY_CIPHERS = "AES256-SHA:AES128-SHA:CAMELLIA256-SHA:CAMELLIA128-SHA:SEED-SHA:@SECLEVEL=0"
#: Classic groups only: a modern server that has not adopted post-quantum key exchange.
CLASSIC_GROUPS = "X25519:secp256r1:secp384r1"
#: The hybrid first, as OpenSSL 4 orders it by default.
HYBRID_GROUPS = "X25519MLKEM768:SecP256r1MLKEM768:X25519:secp256r1"
#: Days left on the certificate that is about to expire.
EXPIRING_IN_DAYS = 5


class BackendUnavailable(RuntimeError):
    """A backend cannot run on this machine (e.g. PostgreSQL is not installed); the reason says why."""


@dataclasses.dataclass(frozen=True, slots=True)
class DemoPKI:
    """The demo's CA, its OCSP responder (None: leaves name none) and a directory for the PEM files."""

    ca: pki.Issued
    directory: Path
    responder: RevocationResponder | None = None

    @property
    def ca_file(self) -> Path:
        path = self.directory / "demo-ca.crt"
        if not path.exists():
            path.write_bytes(self.ca.cert_pem)
        return path

    def issue(
        self,
        item: Workload,
        *,
        rsa: bool = False,
        days_left: int | None = None,
        hostname: str | None = None,
    ) -> pki.Issued:
        """A leaf for the workload's service names (or for one route `hostname`), naming the
        responder; revoked at the responder when the workload says so."""
        not_after = (
            dt.datetime.now(dt.UTC) + dt.timedelta(days=days_left, hours=1)
            if days_left is not None
            else None
        )
        names = (
            (hostname,)
            if hostname
            else (item.dns_name, f"{item.name}.{item.namespace}.svc", item.name)
        )
        leaf = pki.make_leaf(
            self.ca,
            common_name=names[0],
            dns_names=names,
            ip_addresses=() if hostname else (item.pod_ip,),
            key_kind="rsa" if rsa else "ec",
            key_bits=2048 if rsa else 256,
            not_after=not_after,
            days=365,
            ocsp_url=self.responder.ocsp_url if self.responder else None,
        )
        if self.responder is not None and item.revocation is Revocation.REVOKED:
            self.responder.revoke(leaf)
        return leaf

    def write(self, name: str, leaf: pki.Issued) -> pki.PemFiles:
        return pki.write_pem_files(self.directory, name, leaf, (), self.ca)

    def server_pem(
        self, item: Workload, *, rsa: bool = False, days_left: int | None = None
    ) -> pki.PemFiles:
        return self.write(
            f"{item.namespace}-{item.name}", self.issue(item, rsa=rsa, days_left=days_left)
        )

    def staple_for(self, item: Workload, leaf: pki.Issued) -> Callable[[], bytes] | None:
        """What makes the DER OCSP response the workload's server staples: the responder's
        current answer, asked at each handshake as a server refreshes its staple (None: the
        server staples nothing)."""
        responder = self.responder
        if responder is None or item.revocation is not Revocation.STAPLED:
            return None
        return lambda: responder.ocsp_response(leaf)


def make_pki(directory: Path, responder_host: str | None = None) -> DemoPKI:
    """The demo CA; with `responder_host`, its OCSP responder too (started: the caller stops it)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = pki.make_ca("cryptoscope demo cluster CA")
    responder = None
    if responder_host is not None:
        responder = RevocationResponder(ca, host=responder_host)
        responder.start()
    return DemoPKI(ca, directory, responder)


class DemoTLSServer(PyOpenSSLServer):
    """The lab's pyOpenSSL server that, given `staple`, staples what it returns when the client
    asks (status_request)."""

    def __init__(
        self, pem: pki.PemFiles, *, staple: Callable[[], bytes] | None = None, **options: Any
    ) -> None:
        super().__init__(pem, **options)
        self.staple = staple
        #: How many handshakes asked for a staple and got one.
        self.stapled = 0

    def _build_context(self) -> Any:
        ctx = super()._build_context()
        if self.staple is not None:
            ctx.set_ocsp_server_callback(self._staple)
        return ctx

    def _staple(self, conn: Any, data: Any) -> bytes:
        if self.staple is None:
            return b""
        self.stapled += 1
        return self.staple()


class SniGatewayServer(DemoTLSServer):
    """A Gateway's data plane: one TLS port, one certificate per route hostname, picked by SNI.

    A client without SNI (or with an unknown name) gets the data plane's own certificate.
    `seen` records the server names clients sent.
    """

    name = "sni-gateway"

    def __init__(
        self, pem: pki.PemFiles, hostnames: dict[str, pki.PemFiles], **options: Any
    ) -> None:
        super().__init__(pem, **options)
        self.by_hostname = {
            name: DemoTLSServer(files, **options) for name, files in hostnames.items()
        }
        self.seen: list[str | None] = []

    def _build_context(self) -> Any:
        ctx = super()._build_context()
        ctx.set_tlsext_servername_callback(self._select)
        return ctx

    def _select(self, conn: Any) -> None:
        raw = conn.get_servername()
        name = raw.decode("ascii", "replace") if raw else None
        self.seen.append(name)
        if name in self.by_hostname:
            conn.set_context(self.by_hostname[name].context())


Recipe = Callable[[Workload, DemoPKI], LoopbackServer]


def _modern(item: Workload, keys: DemoPKI) -> LoopbackServer:
    leaf = keys.issue(item)
    return DemoTLSServer(
        keys.write(f"{item.namespace}-{item.name}", leaf),
        staple=keys.staple_for(item, leaf),
        min_version="TLSv1.3",
        groups=CLASSIC_GROUPS,
        host=item.pod_ip,
    )


def _sni_gateway(item: Workload, keys: DemoPKI) -> LoopbackServer:
    gateway = gateway_served_by(item)
    hostnames = gateway.hostnames if gateway is not None else ()
    return SniGatewayServer(
        keys.server_pem(item),
        {
            name: keys.write(
                f"{item.namespace}-{item.name}-{name}", keys.issue(item, hostname=name)
            )
            for name in hostnames
        },
        min_version="TLSv1.2",
        cipher_list="ECDHE+AESGCM:ECDHE+CHACHA20",
        groups=CLASSIC_GROUPS,
        host=item.pod_ip,
    )


def _hybrid(item: Workload, keys: DemoPKI) -> LoopbackServer:
    return PyOpenSSLServer(
        keys.server_pem(item),
        min_version="TLSv1.2",
        cipher_list="ECDHE+AESGCM:ECDHE+CHACHA20",
        groups=HYBRID_GROUPS,
        server_preference=True,
        host=item.pod_ip,
    )


def _legacy(item: Workload, keys: DemoPKI) -> LoopbackServer:
    return PyOpenSSLServer(
        keys.server_pem(item, rsa=True),
        min_version="TLSv1.0",
        max_version="TLSv1.0",
        cipher_list=LEGACY_CIPHERS,
        server_preference=True,
        host=item.pod_ip,
    )


def _mtls(item: Workload, keys: DemoPKI) -> LoopbackServer:
    return PyOpenSSLServer(
        keys.server_pem(item),
        min_version="TLSv1.2",
        groups=CLASSIC_GROUPS,
        client_ca=keys.ca_file,
        host=item.pod_ip,
    )


def _expiring(item: Workload, keys: DemoPKI) -> LoopbackServer:
    return PyOpenSSLServer(
        keys.server_pem(item, days_left=EXPIRING_IN_DAYS),
        min_version="TLSv1.2",
        cipher_list="ECDHE+AESGCM",
        groups=CLASSIC_GROUPS,
        host=item.pod_ip,
    )


def _plaintext(item: Workload, keys: DemoPKI) -> LoopbackServer:
    return PlainHTTPServer(host=item.pod_ip)


def _postgres(item: Workload, keys: DemoPKI) -> LoopbackServer:
    if postgres_bindir() is None:
        raise BackendUnavailable("PostgreSQL is not installed (apt-get install postgresql)")
    return PostgresServer(keys.server_pem(item), host=item.pod_ip)


RECIPES: dict[Backend, Recipe] = {
    Backend.MODERN_TLS13: _modern,
    Backend.PQ_HYBRID: _hybrid,
    Backend.LEGACY_TLS10: _legacy,
    Backend.MTLS: _mtls,
    Backend.EXPIRING: _expiring,
    Backend.PLAINTEXT_HTTP: _plaintext,
    Backend.POSTGRES: _postgres,
    Backend.SNI_GATEWAY: _sni_gateway,
}


def start_backend(backend: Backend, item: Workload, keys: DemoPKI) -> LoopbackServer:
    """Build and start the server for one port; raises BackendUnavailable with a reason."""
    server = RECIPES[backend](item, keys)
    try:
        server.start()
    except BaseException as exc:
        # A start cut short (an error, or Ctrl-C while PostgreSQL initialises) stops what began.
        server.stop()
        if isinstance(exc, LabServerError):
            raise BackendUnavailable(str(exc).splitlines()[0]) from exc
        if isinstance(exc, OSError):
            raise BackendUnavailable(f"cannot listen on {item.pod_ip}: {exc}") from exc
        raise
    return server
