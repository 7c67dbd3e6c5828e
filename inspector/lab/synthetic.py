"""A realistic cryptoscope database of N endpoints, written through the real write API.

Used by the store benchmark, the TUI (large databases), and the report golden
tests. Deterministic: the same ``seed`` and ``now`` give the same rows.

    python -m inspector.lab.synthetic --endpoints 100000 --runs 2 --out /tmp/big.db
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import random
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.rules import RuleSettings, evaluate_endpoint
from agent.store import EndpointIdentity, Store
from agent.tls.model import (
    CertificateInfo,
    ChainValidation,
    EndpointScan,
    ProtocolResult,
    Transport,
)

#: The fixed clock of generated databases (golden tests depend on it).
DEFAULT_NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

NAMESPACES = (
    ("payments", "cde", "card authorisation"),
    ("checkout", "cde", "checkout API"),
    ("tokenizer", "cde", "PAN tokenisation"),
    ("ledger", "cde", "settlement ledger"),
    ("orders", "connected", "order management"),
    ("auth", "connected", "identity provider"),
    ("fraud", "connected", "fraud scoring"),
    ("reporting", "connected", "merchant reports"),
    ("monitoring", "out-of-scope", "metrics"),
    ("logging", "out-of-scope", "log shipping"),
    ("ingress-nginx", "connected", "ingress"),
    ("kube-system", "out-of-scope", "cluster services"),
)
WORKLOAD_WORDS = (
    "api",
    "gateway",
    "worker",
    "db",
    "cache",
    "web",
    "broker",
    "vault-sync",
    "scheduler",
    "search",
)
KINDS = ("Deployment", "Deployment", "Deployment", "StatefulSet", "DaemonSet")

MODERN_12 = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
TLS13 = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
INTERMEDIATE_12 = MODERN_12 + (
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
)
LEGACY_12 = (
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
)
LEGACY_10 = (
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_RC4_128_SHA",
)


@dataclasses.dataclass(frozen=True)
class TlsProfile:
    name: str
    protocols: dict[str, tuple[str, ...]]
    groups: tuple[str, ...]
    weight: int
    fallback_scsv: bool | None = True
    dhe_min_bits: int | None = None


TLS_PROFILES = (
    TlsProfile(
        "modern", {"TLSv1.2": MODERN_12, "TLSv1.3": TLS13}, ("x25519", "secp256r1", "secp384r1"), 40
    ),
    TlsProfile(
        "pq",
        {"TLSv1.2": MODERN_12[:2], "TLSv1.3": TLS13},
        ("X25519MLKEM768", "x25519", "secp256r1"),
        10,
    ),
    TlsProfile("tls13-only", {"TLSv1.3": TLS13}, ("x25519", "secp256r1"), 8),
    TlsProfile(
        "intermediate", {"TLSv1.2": INTERMEDIATE_12}, ("x25519", "secp256r1"), 25, dhe_min_bits=2048
    ),
    TlsProfile(
        "legacy",
        {"TLSv1.0": LEGACY_10, "TLSv1.1": LEGACY_10, "TLSv1.2": LEGACY_12},
        ("secp256r1", "secp192r1"),
        7,
        fallback_scsv=False,
        dhe_min_bits=1024,
    ),
)
ALL_PROTOCOLS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


class _Pki:
    """Deterministic certificate facts: two internal CAs, one public-looking CA, leaves per workload."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now
        self.roots = [
            self._ca("CN=Payments Root CA,O=Example", years=15),
            self._ca("CN=Platform Root CA,O=Example", years=10),
        ]
        self.intermediates = [
            self._ca("CN=Payments Issuing CA 1,O=Example", years=5, issuer=self.roots[0]),
            self._ca("CN=Platform Issuing CA,O=Example", years=5, issuer=self.roots[1]),
        ]

    def _ca(
        self, subject: str, *, years: int, issuer: CertificateInfo | None = None
    ) -> CertificateInfo:
        digest = _digest("ca", subject)
        start = self.now - timedelta(days=365 * 2)
        return CertificateInfo(
            sha256=digest,
            sha1=_digest("sha1", subject)[:40],
            subject=subject,
            issuer=issuer.subject if issuer else subject,
            serial=digest[:16],
            not_before=start,
            not_after=start + timedelta(days=365 * years),
            key_type="RSA",
            key_bits=4096,
            signature_algorithm="sha256WithRSAEncryption",
            signature_hash="sha256",
            is_ca=True,
            self_signed=issuer is None,
            spki_sha256=_digest("spki", subject),
        )

    def leaf(self, name: str, generation: int) -> tuple[CertificateInfo, ...]:
        rng = random.Random(f"{name}/{generation}")
        which = rng.randrange(2)
        roll = rng.random()
        days_left = (
            rng.choice((-3, 5, 12, 20, 45, 90, 180, 300, 330, 365))
            if roll < 0.3
            else rng.randint(30, 400)
        )
        key_type, key_bits, curve = rng.choice(
            (
                ("RSA", 2048, None),
                ("RSA", 2048, None),
                ("EC", 256, "secp256r1"),
                ("RSA", 3072, None),
                ("EC", 384, "secp384r1"),
            )
        )
        signature_hash = "sha256"
        if roll > 0.985:
            key_type, key_bits, curve = "RSA", 1024, None
        if 0.97 < roll <= 0.985:
            signature_hash = "sha1"
        self_signed = 0.955 < roll <= 0.97
        subject = f"CN={name}"
        not_after = self.now + timedelta(days=days_left)
        issuer = self.intermediates[which]
        leaf = CertificateInfo(
            sha256=_digest("leaf", name, generation),
            sha1=_digest("leaf-sha1", name, generation)[:40],
            subject=subject,
            issuer=subject if self_signed else issuer.subject,
            serial=_digest("serial", name, generation)[:16],
            not_before=min(
                not_after - timedelta(days=397 if days_left > 80 or roll < 0.5 else 90),
                self.now - timedelta(days=30),
            ),
            not_after=not_after,
            key_type=key_type,
            key_bits=key_bits,
            curve=curve,
            signature_algorithm=(
                "sha1WithRSAEncryption"
                if signature_hash == "sha1"
                else "ecdsa-with-SHA256"
                if key_type == "EC"
                else "sha256WithRSAEncryption"
            ),
            signature_hash=signature_hash,
            san_dns=(name, name.split(".")[0]),
            self_signed=self_signed,
            spki_sha256=_digest("leaf-spki", name, generation),
        )
        if self_signed:
            return (leaf,)
        return (leaf, issuer, self.roots[which])


@dataclasses.dataclass(frozen=True)
class _Endpoint:
    identity: EndpointIdentity
    transport: Transport
    profile: TlsProfile | None
    cert_name: str


def _endpoints(count: int, rng: random.Random) -> list[_Endpoint]:
    endpoints: list[_Endpoint] = []
    workload_index = 0
    while len(endpoints) < count:
        namespace, scope, purpose = NAMESPACES[workload_index % len(NAMESPACES)]
        word = WORKLOAD_WORDS[(workload_index // len(NAMESPACES)) % len(WORKLOAD_WORDS)]
        workload = f"{word}-{workload_index // (len(NAMESPACES) * len(WORKLOAD_WORDS))}"
        kind = KINDS[workload_index % len(KINDS)]
        profile = rng.choices(TLS_PROFILES, weights=[p.weight for p in TLS_PROFILES])[0]
        ports: list[tuple[int, Transport]] = [(8443 if rng.random() < 0.3 else 443, Transport.TLS)]
        if word == "db":
            ports = [(5432, Transport.STARTTLS_POSTGRES)]
        if word == "cache":
            ports = [(6379, Transport.PLAINTEXT if rng.random() < 0.5 else Transport.TLS)]
        if rng.random() < 0.25:
            ports.append((9090, Transport.PLAINTEXT_HTTP))
        if rng.random() < 0.04:
            ports.append((9443, Transport.TLS_CLIENT_CERT_REQUIRED))
        replicas = rng.choice((1, 2, 2, 3))
        for replica in range(replicas):
            pod = f"{workload}-{_digest(workload, replica)[:5]}"
            ip = f"10.{(workload_index >> 8) & 255}.{workload_index & 255}.{10 + replica}"
            node = f"aks-nodepool1-{(workload_index + replica) % 40:02d}"
            for port, transport in ports:
                if len(endpoints) >= count:
                    break
                if rng.random() < 0.01:
                    transport = rng.choice((Transport.TIMEOUT, Transport.CLOSED, Transport.ERROR))
                endpoints.append(
                    _Endpoint(
                        EndpointIdentity(
                            ip=ip,
                            port=port,
                            namespace=namespace,
                            workload_kind=kind,
                            workload_name=workload,
                            pod=pod,
                            node=node,
                            service=workload,
                            purpose=purpose,
                            scope=scope,
                        ),
                        transport,
                        profile if transport.is_tls else None,
                        f"{workload}.{namespace}.svc.cluster.local",
                    )
                )
        workload_index += 1
    return endpoints


def _scan(
    endpoint: _Endpoint, pki: _Pki, generation: int, started: datetime, run_index: int
) -> EndpointScan:
    identity = endpoint.identity
    if endpoint.profile is None:
        error = {
            Transport.TIMEOUT: "timed out after 3.0 s waiting for the server",
            Transport.CLOSED: "connection refused",
            Transport.ERROR: "connection reset by peer during the ClientHello",
        }.get(endpoint.transport)
        return EndpointScan(
            host=identity.ip,
            port=identity.port,
            transport=endpoint.transport,
            error=error,
            started_at=started,
            duration_s=0.01,
            connections=1,
        )
    profile = endpoint.profile
    versions = dict(profile.protocols)
    # later runs: some legacy servers drop TLS 1.0, some modern ones drop a CBC suite
    if (
        run_index > 0
        and "TLSv1.0" in versions
        and int(_digest(identity.subject_key)[:2], 16) % 3 == 0
    ):
        del versions["TLSv1.0"]
    protocols = {
        name: ProtocolResult(
            accepted=name in versions,
            suites=versions.get(name, ()),
            server_preference=True if name in versions else None,
        )
        for name in ALL_PROTOCOLS
    }
    chain = pki.leaf(endpoint.cert_name, generation)
    leaf = chain[0]
    highest = max(versions, key=ALL_PROTOCOLS.index)
    return EndpointScan(
        host=identity.ip,
        port=identity.port,
        transport=endpoint.transport,
        sni=endpoint.cert_name,
        protocols=protocols,
        groups=profile.groups,
        groups_by_version={
            name: profile.groups for name in versions if name in ("TLSv1.2", "TLSv1.3")
        },
        certificates=chain,
        chain=ChainValidation(
            trusted=not leaf.self_signed,
            error="self-signed certificate" if leaf.self_signed else None,
            hostname_match=True,
            ordered=True,
            complete=True,
            ca_source="ca-file",
        ),
        dhe_min_bits=profile.dhe_min_bits,
        fallback_scsv=profile.fallback_scsv
        if "TLSv1.0" in versions or "TLSv1.1" in versions
        else None,
        client_cert_required=endpoint.transport == Transport.TLS_CLIENT_CERT_REQUIRED,
        negotiated=(highest, versions[highest][0], profile.groups[0]),
        started_at=started,
        duration_s=0.2 + (int(leaf.sha256[:2], 16) / 255),
        connections=2 + sum(len(suites) for suites in versions.values()),
    )


def _batches(items: Sequence[_Endpoint], size: int) -> Iterator[Sequence[_Endpoint]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclasses.dataclass(frozen=True)
class GeneratedDatabase:
    path: Path
    endpoints: int
    runs: tuple[int, ...]
    seconds: float


def generate(
    path: str | Path,
    *,
    endpoints: int = 1000,
    runs: int = 2,
    seed: int = 7,
    now: datetime = DEFAULT_NOW,
    profile: str = "pci",
    batch_size: int = 2000,
    with_waivers: bool = True,
) -> GeneratedDatabase:
    """Write ``runs`` runs over ``endpoints`` endpoints into a new database at ``path``.

    The last run ends at ``now``; earlier runs are a day apart. Between runs a
    few certificates rotate and some legacy servers drop TLS 1.0, so diffs and
    first/last-seen have something to show.
    """
    began = time.perf_counter()
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the generator only writes new databases")
    rng = random.Random(seed)
    pki = _Pki(rng, now)
    population = _endpoints(endpoints, rng)
    settings = RuleSettings()
    run_ids: list[int] = []
    with Store.open(path) as store:
        for run_index in range(runs):
            started = now - timedelta(days=runs - 1 - run_index, minutes=10)
            run_id = store.begin_run(
                agent_id="synthetic",
                node="all-nodes",
                mode="cluster",
                profile=profile,
                scope="synthetic cluster",
                started_at=started,
            )
            if run_index == runs - 1 and with_waivers:
                store.add_waiver(
                    rule_id="C6",
                    subject_pattern="ledger/*",
                    reason="settlement HSM client needs static RSA until Q3",
                    approver="ciso@example.com",
                    expires_at=now + timedelta(days=90),
                    created_at=started,
                )
                store.add_waiver(
                    rule_id="P7",
                    subject_pattern="*@*:9090",
                    reason="metrics port carries no cardholder data",
                    approver="qsa-liaison@example.com",
                    expires_at=now + timedelta(days=180),
                    created_at=started,
                )
                store.add_waiver(
                    rule_id="P5",
                    subject_pattern="reporting/*",
                    reason="vendor appliance; replacement ordered",
                    approver="ciso@example.com",
                    expires_at=now - timedelta(days=1),
                    created_at=started - timedelta(days=60),
                )
            # the newest ~4% of endpoints only appear in the last run (scale-up, new workloads)
            scanned = (
                population if run_index == runs - 1 else population[: len(population) * 24 // 25]
            )
            for batch in _batches(scanned, batch_size):
                items = []
                findings = []
                for endpoint in batch:
                    # one certificate generation per (workload, run) for ~5% of workloads: rotation
                    generation = run_index if int(_digest(endpoint.cert_name)[:2], 16) < 24 else 0
                    scan = _scan(endpoint, pki, generation, started, run_index)
                    items.append((endpoint.identity, scan))
                    findings.extend(
                        evaluate_endpoint(
                            scan,
                            endpoint.identity.subject_key,
                            profile=profile,
                            settings=settings,
                            now=started,
                        )
                    )
                store.record_endpoint_scans(run_id, items)
                store.record_findings(run_id, findings, seen_at=started)
            if run_index == runs - 1:
                store.record_error(
                    run_id,
                    "kubernetes API: 1 pod listed without an IP (pending)",
                    stage="discovery",
                    occurred_at=started,
                )
            store.finish_run(run_id, finished_at=started + timedelta(minutes=8))
            run_ids.append(run_id)
    return GeneratedDatabase(path, len(population), tuple(run_ids), time.perf_counter() - began)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", required=True, type=Path, help="path of the new database")
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    result = generate(args.out, endpoints=args.endpoints, runs=args.runs, seed=args.seed)
    print(
        f"{result.path}: {result.endpoints} endpoints, runs {list(result.runs)}, {result.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
