"""Fixtures for the store tests: real SQLite files in a per-test temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.store import EndpointIdentity, Store
from agent.tls.model import (
    CertificateInfo,
    ChainValidation,
    EndpointScan,
    ProtocolResult,
    Transport,
)

T0 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def certificate(
    name: str, *, days_left: int = 200, issuer: str = "CN=Lab CA", is_ca: bool = False
) -> CertificateInfo:
    digest = (name.encode().hex() * 32)[:64]
    return CertificateInfo(
        sha256=digest,
        sha1=digest[:40],
        subject=f"CN={name}",
        issuer=issuer,
        serial="0a",
        not_before=T0 - timedelta(days=30),
        not_after=T0 + timedelta(days=days_left),
        key_type="RSA",
        key_bits=2048,
        signature_algorithm="sha256WithRSAEncryption",
        signature_hash="sha256",
        san_dns=(name,),
        is_ca=is_ca,
    )


def tls_scan(
    host: str = "10.0.0.1",
    port: int = 443,
    *,
    versions: dict[str, tuple[str, ...]] | None = None,
    leaf: str = "api.example",
) -> EndpointScan:
    versions = versions or {
        "TLSv1.2": ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"),
        "TLSv1.3": ("TLS_AES_128_GCM_SHA256",),
    }
    return EndpointScan(
        host=host,
        port=port,
        transport=Transport.TLS,
        sni=leaf,
        protocols={name: ProtocolResult(True, suites, True) for name, suites in versions.items()},
        groups=("x25519", "secp256r1"),
        certificates=(certificate(leaf), certificate("Lab CA", is_ca=True, days_left=3000)),
        chain=ChainValidation(
            trusted=True, hostname_match=True, ordered=True, complete=True, ca_source="system"
        ),
        negotiated=("TLSv1.3", "TLS_AES_128_GCM_SHA256", "x25519"),
        started_at=T0,
        duration_s=0.5,
        connections=7,
    )


def identity(pod: str = "api-1", port: int = 443, ip: str = "10.0.0.1") -> EndpointIdentity:
    return EndpointIdentity(
        ip=ip,
        port=port,
        namespace="payments",
        workload_kind="Deployment",
        workload_name="api",
        pod=pod,
        node="node-a",
        service="api",
        purpose="card API",
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "cryptoscope.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    with Store.open(db_path) as opened:
        yield opened
