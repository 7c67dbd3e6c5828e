"""The real loopback servers behind the demo's pods (the lab's TLS peers, Python only).

Each :class:`~inspector.demo.cluster.Backend` maps to one recipe: which
certificate it presents and how its TLS is configured. Everything is served by
pyOpenSSL (the OpenSSL 4 inside ``cryptography``) or ``http.server``, so the demo
needs no ``openssl`` binary; PostgreSQL is used only when it is installed.

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

from inspector.demo.cluster import Backend, Workload
from inspector.lab import pki
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
    """The demo's CA and a directory for the PEM files of every server."""

    ca: pki.Issued
    directory: Path

    @property
    def ca_file(self) -> Path:
        path = self.directory / "demo-ca.crt"
        if not path.exists():
            path.write_bytes(self.ca.cert_pem)
        return path

    def server_pem(
        self, item: Workload, *, rsa: bool = False, days_left: int | None = None
    ) -> pki.PemFiles:
        not_after = (
            dt.datetime.now(dt.UTC) + dt.timedelta(days=days_left, hours=1)
            if days_left is not None
            else None
        )
        leaf = pki.make_leaf(
            self.ca,
            common_name=item.dns_name,
            dns_names=(item.dns_name, f"{item.name}.{item.namespace}.svc", item.name),
            ip_addresses=(item.pod_ip,),
            key_kind="rsa" if rsa else "ec",
            key_bits=2048 if rsa else 256,
            not_after=not_after,
            days=365,
        )
        return pki.write_pem_files(
            self.directory, f"{item.namespace}-{item.name}", leaf, (), self.ca
        )


def make_pki(directory: Path) -> DemoPKI:
    directory.mkdir(parents=True, exist_ok=True)
    return DemoPKI(pki.make_ca("cryptoscope demo cluster CA"), directory)


Recipe = Callable[[Workload, DemoPKI], LoopbackServer]


def _modern(item: Workload, keys: DemoPKI) -> LoopbackServer:
    return PyOpenSSLServer(
        keys.server_pem(item), min_version="TLSv1.3", groups=CLASSIC_GROUPS, host=item.pod_ip
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
