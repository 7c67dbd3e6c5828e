"""A small, deterministic cryptoscope database for the TUI tests, written through the store's real API."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.rules.model import Finding, Severity
from agent.store import EndpointIdentity, Store
from agent.tls.model import (
    CertificateInfo,
    ChainValidation,
    EndpointScan,
    OCSPStaple,
    ProtocolResult,
    RevocationCheck,
    Transport,
)

#: The tests' clock: every time in the fixture is relative to it.
NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)

MODERN = ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256")
TLS12_GOOD = ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
TLS12_WEAK = (
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
)


def _hex(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def certificate(
    name: str,
    *,
    days_left: int,
    issuer: str = "CN=Lab Issuing CA",
    is_ca: bool = False,
    key_type: str = "RSA",
    key_bits: int = 2048,
) -> CertificateInfo:
    return CertificateInfo(
        sha256=_hex(name),
        sha1=_hex(name)[:40],
        subject=f"CN={name}",
        issuer=issuer,
        serial=_hex(name)[:16],
        not_before=NOW - timedelta(days=300),
        not_after=NOW + timedelta(days=days_left),
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm="sha256WithRSAEncryption",
        signature_hash="sha256",
        san_dns=(name,) if not is_ca else (),
        is_ca=is_ca,
        self_signed=is_ca and issuer == f"CN={name}",
        spki_sha256=_hex("spki" + name),
    )


INTERMEDIATE = certificate("Lab Issuing CA", days_left=1000, issuer="CN=Lab Root CA", is_ca=True)


def revocation_checked(name: str, days_left: int) -> dict[str, object]:
    """A chain whose revocation was checked: the leaf from its stapled OCSP response, the
    intermediate from its CA's responder (both good: no finding)."""
    checked_at = NOW - timedelta(minutes=5)
    leaf = certificate(name, days_left=days_left)
    chain = (
        RevocationCheck(
            "good", "ocsp-staple", None, "", checked_at=checked_at, position=0, sha256=leaf.sha256
        ),
        RevocationCheck(
            "good",
            "ocsp",
            "http://ocsp.example-ca.test",
            "",
            checked_at=checked_at,
            position=1,
            sha256=INTERMEDIATE.sha256,
        ),
    )
    return {
        "revocation": chain[0],
        "chain_revocation": chain,
        "ocsp_staple": OCSPStaple(
            stapled=True,
            status="good",
            verified=True,
            produced_at=checked_at - timedelta(hours=1),
            this_update=checked_at - timedelta(hours=1),
            next_update=checked_at + timedelta(days=3),
        ),
    }


def tls_scan(
    name: str,
    *,
    weak: bool = False,
    legacy: bool = False,
    days_left: int = 200,
    pq: bool = False,
    revocation: bool = False,
) -> EndpointScan:
    protocols = {
        "SSLv3": ProtocolResult(accepted=False),
        "TLSv1.0": ProtocolResult(accepted=legacy, suites=TLS12_WEAK[:1] if legacy else ()),
        "TLSv1.1": ProtocolResult(accepted=False),
        "TLSv1.2": ProtocolResult(
            accepted=True, suites=TLS12_GOOD + (TLS12_WEAK if weak else ()), server_preference=True
        ),
        "TLSv1.3": ProtocolResult(accepted=True, suites=MODERN, server_preference=False),
    }
    groups = ("X25519MLKEM768", "x25519", "secp256r1") if pq else ("x25519", "secp256r1")
    return EndpointScan(
        host="10.0.0.1",
        port=443,
        transport=Transport.TLS,
        sni=name,
        protocols=protocols,
        groups=groups,
        groups_by_version={"TLSv1.3": groups},
        certificates=(certificate(name, days_left=days_left), INTERMEDIATE),
        chain=ChainValidation(
            trusted=True, hostname_match=True, ordered=True, complete=False, ca_source="system"
        ),
        negotiated=("TLSv1.3", "TLS_AES_256_GCM_SHA384", groups[0]),
        started_at=NOW - timedelta(minutes=5),
        **(revocation_checked(name, days_left) if revocation else {}),  # type: ignore[arg-type]
    )


def plain_scan(port: int) -> EndpointScan:
    return EndpointScan(
        host="10.0.0.9",
        port=port,
        transport=Transport.PLAINTEXT_HTTP,
        started_at=NOW - timedelta(minutes=5),
    )


#: (namespace, kind, workload, pod, ip, port, scan factory)
LAYOUT = (
    (
        "payments",
        "Deployment",
        "api",
        "api-7d9f-abcde",
        "10.1.0.10",
        8443,
        lambda: tls_scan("api.payments.svc", pq=True),
    ),
    (
        "payments",
        "Deployment",
        "api",
        "api-7d9f-abcde",
        "10.1.0.10",
        8080,
        lambda: plain_scan(8080),
    ),
    (
        "payments",
        "StatefulSet",
        "ledger-db",
        "ledger-db-0",
        "10.1.0.20",
        5432,
        lambda: tls_scan("ledger-db.payments.svc", weak=True, days_left=10, revocation=True),
    ),
    (
        "payments",
        "Deployment",
        "legacy-gw",
        "legacy-gw-55c-xyz12",
        "10.1.0.30",
        443,
        lambda: tls_scan("legacy-gw.payments.svc", weak=True, legacy=True, days_left=-3),
    ),
    (
        "shop",
        "Deployment",
        "web",
        "web-6b8-q1w2e",
        "10.2.0.10",
        443,
        lambda: tls_scan("web.shop.svc", pq=True, days_left=25),
    ),
    (
        "shop",
        "Deployment",
        "web",
        "web-6b8-r3t4y",
        "10.2.0.11",
        443,
        lambda: tls_scan("web.shop.svc", pq=True, days_left=25),
    ),
    ("shop", "Deployment", "cart", "cart-5f-zx9", "10.2.0.20", 9090, lambda: plain_scan(9090)),
    (
        "monitoring",
        "DaemonSet",
        "node-exporter",
        "node-exporter-abc",
        "10.3.0.5",
        9100,
        lambda: plain_scan(9100),
    ),
)


def _findings(layout_index: int, identity: EndpointIdentity) -> list[Finding]:
    key = identity.subject_key
    by_index: dict[int, list[Finding]] = {
        1: [
            Finding(
                "P-PLAINTEXT",
                Severity.HIGH,
                ("4.2.1",),
                "endpoint",
                key,
                "Plaintext HTTP on port 8080",
                "Serve TLS 1.2+ or restrict the port to the pod network with a NetworkPolicy.",
            )
        ],
        2: [
            Finding(
                "C-EXPIRY",
                Severity.CRITICAL,
                ("4.2.1",),
                "endpoint",
                key,
                "Leaf certificate expires in 10 days",
                "Renew the certificate (cert-manager / Key Vault auto-renewal).",
            ),
            Finding(
                "P-WEAK-SUITE",
                Severity.HIGH,
                ("4.2.1", "12.3.3"),
                "endpoint",
                key,
                "Accepts TLS_RSA_WITH_RC4_128_SHA",
                "Remove RC4, 3DES and static-RSA suites from the server configuration.",
            ),
        ],
        3: [
            Finding(
                "P-LEGACY-PROTOCOL",
                Severity.HIGH,
                ("4.2.1",),
                "endpoint",
                key,
                "Accepts TLSv1.0",
                "Disable TLS 1.0 and 1.1.",
            ),
            Finding(
                "C-EXPIRED",
                Severity.CRITICAL,
                ("4.2.1",),
                "endpoint",
                key,
                "Leaf certificate expired 3 days ago",
                "Replace the certificate now.",
            ),
        ],
        4: [
            Finding(
                "C-EXPIRY",
                Severity.MEDIUM,
                ("4.2.1",),
                "endpoint",
                key,
                "Leaf certificate expires in 25 days",
                "Renew the certificate.",
            )
        ],
        6: [
            Finding(
                "P-PLAINTEXT",
                Severity.HIGH,
                ("4.2.1",),
                "endpoint",
                key,
                "Plaintext HTTP on port 9090",
                "Serve TLS 1.2+.",
            )
        ],
        7: [
            Finding(
                "P-PLAINTEXT",
                Severity.LOW,
                ("4.2.1",),
                "endpoint",
                key,
                "Plaintext metrics on port 9100",
                "Scrape over TLS or keep the port node-local.",
            )
        ],
    }
    return by_index.get(layout_index, [])


def build_database(path: Path, *, runs: int = 2) -> Path:
    """Write the fixture: `runs` runs of agent node-a over LAYOUT, one run of node-b, a waiver."""
    with Store.open(path) as store:
        store.add_waiver(
            rule_id="P-PLAINTEXT",
            subject_pattern="monitoring/*",
            reason="node-local metrics",
            approver="security-team",
            expires_at=NOW + timedelta(days=60),
            created_at=NOW - timedelta(days=1),
        )
        for run_number in range(runs):
            started = NOW - timedelta(hours=runs - run_number)
            run_id = store.begin_run(
                agent_id="node-a", node="aks-node-a", mode="daemonset", started_at=started
            )
            items = []
            findings: list[Finding] = []
            for index, (ns, kind, workload, pod, ip, port, make) in enumerate(LAYOUT):
                if run_number == 0 and index == 4:
                    continue  # appears in the second run
                identity = EndpointIdentity(
                    ip=ip,
                    port=port,
                    namespace=ns,
                    workload_kind=kind,
                    workload_name=workload,
                    pod=pod,
                    node="aks-node-a",
                    service=workload,
                )
                items.append((identity, make()))
                if not (
                    run_number > 0 and index == 6
                ):  # cart plaintext fixed... never: it stays until last
                    findings.extend(_findings(index, identity))
            store.record_endpoint_scans(run_id, items)
            store.record_findings(run_id, findings, seen_at=started + timedelta(minutes=1))
            store.finish_run(run_id, status="ok", finished_at=started + timedelta(minutes=2))
        run_id = store.begin_run(
            agent_id="node-b",
            node="aks-node-b",
            mode="daemonset",
            started_at=NOW - timedelta(minutes=30),
        )
        identity = EndpointIdentity(
            ip="10.4.0.7",
            port=6379,
            namespace="cache",
            workload_kind="StatefulSet",
            workload_name="redis",
            pod="redis-0",
            node="aks-node-b",
        )
        store.record_endpoint_scans(
            run_id, [(identity, tls_scan("redis.cache.svc", days_left=400))]
        )
        store.finish_run(
            run_id,
            status="partial",
            finished_at=NOW - timedelta(minutes=29),
            error="1 endpoint timed out",
        )
    return path
