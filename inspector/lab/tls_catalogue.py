"""The standard set of lab TLS peers: one table shared by the real-peer tests and the benchmark.

Each :class:`PeerSpec` names a server kind and its configuration; :func:`build_peer`
makes the server, :func:`expected_for` derives what a correct scan reports (from the
server's own configuration, see :mod:`inspector.lab.tls_truth`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inspector.lab import pki
from inspector.lab.postgres import PostgresServer, postgres_bindir
from inspector.lab.tls_servers import (
    LoopbackServer,
    NginxServer,
    OpenSSLServer,
    PyOpenSSLServer,
    TlsliteServer,
    nginx_binary,
)
from inspector.lab.tls_truth import (
    ExpectedTLS,
    groups_by_handshake,
    openssl_binary,
    presented_chain,
)

PQ_GROUPS = "X25519MLKEM768:SecP256r1MLKEM768:SecP384r1MLKEM1024:X25519"


@dataclasses.dataclass(frozen=True)
class PeerSpec:
    name: str
    #: "s_server", "nginx", "pyopenssl", "tlslite" or "postgres".
    kind: str
    #: Which lab certificate: "rsa" (RSA 2048 leaf) or "ec" (P-256 leaf behind an intermediate).
    pem: str
    options: Mapping[str, Any]
    description: str


PEERS: tuple[PeerSpec, ...] = (
    PeerSpec(
        "tls1.0-legacy-serverpref",
        "s_server",
        "rsa",
        dict(
            cipher="NULL-MD5:NULL-SHA:AES128-SHA:CAMELLIA256-SHA:DHE-RSA-AES256-SHA:ECDHE-RSA-AES128-SHA",
            min_version="TLSv1.0",
            max_version="TLSv1.0",
            server_preference=True,
            groups="P-256:P-384",
        ),
        "TLS 1.0 only, NULL/MD5/CBC suites at @SECLEVEL=0, server order",
    ),
    PeerSpec(
        "tls1.1-legacy-clientpref",
        "s_server",
        "rsa",
        dict(
            cipher="AES256-SHA:CAMELLIA128-SHA:DHE-RSA-CAMELLIA256-SHA:ECDHE-RSA-AES256-SHA:NULL-SHA",
            min_version="TLSv1.1",
            max_version="TLSv1.1",
            server_preference=False,
            groups="X25519",
        ),
        "TLS 1.1 only, legacy suites, client order",
    ),
    PeerSpec(
        "tls1.0-1.2-all-serverpref",
        "s_server",
        "rsa",
        dict(
            cipher="ALL:COMPLEMENTOFALL:!aNULL:!PSK:!SRP",
            min_version="TLSv1.0",
            max_version="TLSv1.2",
            server_preference=True,
            groups="P-256:X25519:P-521",
        ),
        "every RSA suite of OpenSSL 3.0 over TLS 1.0-1.2, server order",
    ),
    PeerSpec(
        "tls1.2-1.3-serverpref",
        "s_server",
        "rsa",
        dict(
            cipher="ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM",
            ciphersuites="TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
            min_version="TLSv1.2",
            server_preference=True,
            groups="X25519:P-384:ffdhe2048",
        ),
        "TLS 1.2 + 1.3, TLS 1.3 suites reordered, FFDHE for TLS 1.3",
    ),
    PeerSpec(
        "tls1.3-only-clientpref",
        "s_server",
        "rsa",
        dict(
            ciphersuites="TLS_AES_128_CCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_CCM_8_SHA256:"
            "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256",
            min_version="TLSv1.3",
            max_version="TLSv1.3",
            server_preference=False,
            groups="P-256:X448:ffdhe3072",
        ),
        "TLS 1.3 only, all five suites incl. CCM, client order",
    ),
    PeerSpec(
        "ecdsa-chain-tls1.2",
        "s_server",
        "ec",
        dict(
            cipher="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES128-SHA:"
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            min_version="TLSv1.2",
            max_version="TLSv1.2",
            server_preference=True,
            groups="P-256",
        ),
        "ECDSA leaf + intermediate; an RSA suite configured but unusable",
    ),
    PeerSpec(
        "mtls-required",
        "s_server",
        "rsa",
        dict(
            cipher="ECDHE-RSA-AES128-GCM-SHA256:AES256-SHA",
            ciphersuites="TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
            min_version="TLSv1.2",
            server_preference=True,
            groups="X25519",
            verify_client=True,
        ),
        "client certificate required (mTLS)",
    ),
    PeerSpec(
        "nginx-serverpref",
        "nginx",
        "rsa",
        dict(
            ssl_protocols="TLSv1.2 TLSv1.3",
            ssl_ciphers="ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES128-SHA:AES256-SHA",
            prefer_server_ciphers=True,
            ssl_ecdh_curve="X25519:prime256v1",
        ),
        "nginx, ssl_prefer_server_ciphers on",
    ),
    PeerSpec(
        "nginx-clientpref-tls1.1",
        "nginx",
        "rsa",
        dict(
            ssl_protocols="TLSv1.1 TLSv1.2",
            ssl_ciphers="AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0",
            prefer_server_ciphers=False,
            ssl_ecdh_curve="secp384r1",
        ),
        "nginx, TLS 1.1 + 1.2, client order",
    ),
    PeerSpec(
        "pyopenssl-tls1.3-pq-hybrids",
        "pyopenssl",
        "ec",
        dict(min_version="TLSv1.3", groups=PQ_GROUPS, server_preference=True),
        "OpenSSL 4 (cryptography), TLS 1.3 with ML-KEM hybrids",
    ),
    PeerSpec(
        "pyopenssl-defaults",
        "pyopenssl",
        "ec",
        {},
        "OpenSSL 4 (cryptography) with its defaults (X25519MLKEM768 first)",
    ),
    PeerSpec(
        "pyopenssl-tls1.2-clientpref",
        "pyopenssl",
        "ec",
        dict(
            min_version="TLSv1.2",
            max_version="TLSv1.2",
            cipher_list="ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"
            "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384",
            groups="P-384:X25519",
            server_preference=False,
        ),
        "OpenSSL 4, TLS 1.2 only, client order",
    ),
    PeerSpec(
        "pyopenssl-mtls-required",
        "pyopenssl",
        "rsa",
        dict(
            min_version="TLSv1.2",
            cipher_list="ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384",
            tls13_ciphersuites="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384",
            groups="X25519MLKEM768:X25519",
            server_preference=True,
            client_ca="ROOT",
        ),
        "OpenSSL 4, client certificate required, hybrid group",
    ),
    PeerSpec(
        "tlslite-ssl3-to-tls1.1",
        "tlslite",
        "rsa",
        dict(
            min_version="SSLv3",
            max_version="TLSv1.1",
            cipher_names=("aes256", "3des", "rc4", "aes128"),
            mac_names=("sha", "md5"),
        ),
        "tlslite-ng: SSL 3.0 - TLS 1.1 with RC4 and 3DES",
    ),
    PeerSpec(
        "postgres-starttls",
        "postgres",
        "rsa",
        dict(
            ssl_ciphers="ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-SHA:AES128-SHA256:ECDHE-RSA-CHACHA20-POLY1305",
            min_version="TLSv1.2",
            prefer_server_ciphers=True,
            ecdh_curve="prime256v1",
        ),
        "PostgreSQL ssl = on (SSLRequest STARTTLS)",
    ),
)

PEERS_BY_NAME: Mapping[str, PeerSpec] = {spec.name: spec for spec in PEERS}


@dataclasses.dataclass(frozen=True)
class LabPems:
    """Throw-away certificates for the peers, written as PEM files."""

    root: pki.Issued
    rsa: pki.PemFiles  # RSA 2048 leaf signed by the root
    ec: pki.PemFiles  # P-256 leaf behind an intermediate (two certificates in the file)
    client: pki.PemFiles  # client certificate for mTLS, signed by the root


def make_lab_pems(directory: Path) -> LabPems:
    root = pki.make_ca("cryptoscope lab root", key_kind="rsa", key_bits=2048)
    intermediate = pki.make_ca("cryptoscope lab intermediate", issuer=root, key_bits=256)
    rsa_leaf = pki.make_leaf(root, key_kind="rsa", key_bits=2048)
    ec_leaf = pki.make_leaf(intermediate, key_kind="ec", key_bits=256)
    client = pki.make_leaf(
        root, common_name="lab client", dns_names=(), ip_addresses=(), client=True
    )
    return LabPems(
        root=root,
        rsa=pki.write_pem_files(directory, "rsa", rsa_leaf, (), root),
        ec=pki.write_pem_files(directory, "ec", ec_leaf, (intermediate,), root),
        client=pki.write_pem_files(directory, "client", client, (), root),
    )


_NEEDS: dict[str, tuple[str, ...]] = {
    "s_server": ("openssl",),
    "nginx": ("nginx", "openssl"),
    "postgres": ("postgresql", "openssl"),
    # pyOpenSSL names map to suite ids through `openssl ciphers -V` (truth only).
    "pyopenssl": ("openssl",),
    "tlslite": (),
}
_PRESENT = {
    "openssl": lambda: openssl_binary() is not None,
    "nginx": lambda: nginx_binary() is not None,
    "postgresql": lambda: postgres_bindir() is not None,
}


def missing_requirement(spec: PeerSpec) -> str | None:
    """Why `spec` cannot run here (a missing program), or None."""
    for need in _NEEDS[spec.kind]:
        if not _PRESENT[need]():
            return f"{spec.name} needs {need}, which is not installed"
    return None


def build_peer(spec: PeerSpec, pems: LabPems) -> LoopbackServer:
    """The (not yet started) server for `spec`."""
    pem = getattr(pems, spec.pem)
    options = dict(spec.options)
    if options.get("client_ca") == "ROOT":
        options["client_ca"] = pem.ca
    servers: dict[str, Any] = {
        "s_server": OpenSSLServer,
        "nginx": NginxServer,
        "pyopenssl": PyOpenSSLServer,
        "tlslite": TlsliteServer,
        "postgres": PostgresServer,
    }
    server: LoopbackServer = servers[spec.kind](pem, **options)
    return server


def expected_for(server: LoopbackServer, pems: LabPems) -> ExpectedTLS:
    """What a correct scan of the *running* `server` reports.

    The presented chain, and for a pyOpenSSL server with the library's default groups
    the groups, come from real handshakes by an independent client, so the server
    must be running.
    """
    expected = server.expected()
    postgres = expected.transport == "starttls-postgres"
    if expected.groups is None and isinstance(server, PyOpenSSLServer):
        groups = groups_by_handshake(server.host, server.port, postgres=postgres)
        expected = dataclasses.replace(expected, groups=groups)
    client = pems.client if expected.transport == "tls-client-cert-required" else None
    chain = presented_chain(server.host, server.port, client=client, postgres=postgres)
    return dataclasses.replace(expected, chain_sha256=chain)


def cert_file(spec: PeerSpec, pems: LabPems) -> Path:
    """The PEM file (leaf first) the server for `spec` presents."""
    pem: pki.PemFiles = getattr(pems, spec.pem)
    return pem.cert
