"""Protocol, cipher-suite, group and plaintext-port rules (reference tables P*, C*, PQ).

Sources: PCI DSS v4.0.1 4.2.1 and Appendix A2; PCI glossary "strong
cryptography" (112 bits); NIST SP 800-52r2; NIST SP 800-131A r2; RFC 7465.
"""

from __future__ import annotations

from collections.abc import Iterator

from agent.rules.model import Check, Rule, RuleSettings, Severity, Violation
from agent.rules.registry import register
from agent.rules.subjects import EndpointSubject
from agent.rules.suites import WEAK_EC_GROUPS, is_post_quantum_group, suite_has
from agent.tls.dh_groups import group_bits
from agent.tls.model import Transport

NIST = frozenset({"nist"})
REQ_TRANSIT = ("4.2.1",)
REQ_TREND = ("12.3.3",)


def _versions(*names: str) -> Check:
    def check(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
        accepted = [name for name in names if subject.accepted(name)]
        if accepted:
            yield Violation(f"accepts {', '.join(accepted)}")

    return check


def _suites_with(
    prop: str, *, tls13_exempt: bool = True, severity_by_protocol: dict[str, Severity] | None = None
) -> Check:
    def check(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
        by_protocol: dict[str, list[str]] = {}
        for protocol, suite in subject.suites():
            if tls13_exempt and protocol == "TLSv1.3":
                continue
            if suite_has(suite, prop):
                by_protocol.setdefault(protocol, []).append(suite)
        for protocol, suites in by_protocol.items():
            yield Violation(
                f"{protocol} accepts {', '.join(suites)}",
                detail_key=protocol,
                severity=(severity_by_protocol or {}).get(protocol),
            )

    return check


def _plaintext(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    if subject.scan.transport in (Transport.PLAINTEXT_HTTP, Transport.PLAINTEXT):
        kind = (
            "HTTP" if subject.scan.transport == Transport.PLAINTEXT_HTTP else "a plaintext protocol"
        )
        yield Violation(f"port {subject.scan.port} speaks {kind} without TLS")


def _any_tls(subject: EndpointSubject) -> bool:
    return subject.scan.transport.is_tls and bool(subject.scan.accepted_protocols)


def _no_tls13(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    if (
        _any_tls(subject)
        and not subject.accepted("TLSv1.3")
        and "TLSv1.3" in subject.scan.protocols
    ):
        yield Violation(
            "TLS 1.3 not offered (highest: " + subject.scan.accepted_protocols[-1] + ")"
        )


def _tls13_only(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    if (
        subject.accepted("TLSv1.3")
        and not subject.accepted("TLSv1.2")
        and "TLSv1.2" in subject.scan.protocols
    ):
        yield Violation("TLS 1.2 not offered: clients without TLS 1.3 cannot connect")


def _fallback(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    old = [name for name in ("SSLv3", "TLSv1.0", "TLSv1.1") if subject.accepted(name)]
    if old and subject.scan.fallback_scsv is False:
        yield Violation(
            f"accepts {', '.join(old)} and does not honour TLS_FALLBACK_SCSV (downgrade possible)"
        )


def dh_group_bits(name: str) -> int | None:
    """Size of a finite-field group as the prober names it ("ffdhe3072", "modp1024 (RFC 2409)",
    "custom-DH-1024")."""
    return group_bits(name)


def _weak_dhe(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    scan = subject.scan
    sized = [(name, dh_group_bits(name)) for name in scan.dhe_groups]
    weak = [f"{name} ({bits} bits)" for name, bits in sized if bits is not None and bits < 2048]
    if weak:
        how = {
            True: "; negotiated from the client's list",
            False: "; the server's own parameters",
            None: "",
        }[scan.dhe_group_negotiation]
        yield Violation(
            f"finite-field DHE group{'s' if len(weak) > 1 else ''} below 2048 bits: "
            + ", ".join(weak)
            + how
        )
    elif (
        scan.dhe_min_bits is not None
        and scan.dhe_min_bits < 2048
        and not any(bits is not None for _, bits in sized)
    ):
        # an older scan (no group names): only the smallest size is known
        yield Violation(f"finite-field DHE group of {scan.dhe_min_bits} bits (< 2048)")


def _weak_ec_group(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    weak = [group for group in subject.scan.groups if group in WEAK_EC_GROUPS]
    if weak:
        yield Violation(f"accepts elliptic-curve groups below 224 bits: {', '.join(weak)}")


def _no_post_quantum(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    if not _any_tls(subject):
        return
    if not any(is_post_quantum_group(group) for group in subject.scan.groups):
        offered = ", ".join(subject.scan.groups) or "none recorded"
        yield Violation(f"no post-quantum key exchange (groups: {offered})")


_PROTOCOL_REMEDIATION = (
    "Disable this protocol version on the server; allow TLS 1.2 and TLS 1.3 only."
)
_SUITE_REMEDIATION = (
    "Remove these cipher suites from the server configuration (keep ECDHE with AES-GCM)."
)

for rule in (
    Rule(
        "P1",
        "SSL 2.0 or 3.0 accepted",
        Severity.CRITICAL,
        ("4.2.1",),
        "PCI DSS 4.0.1 4.2.1, Appendix A2; NIST SP 800-52r2",
        _PROTOCOL_REMEDIATION,
        _versions("SSLv2", "SSLv3"),
    ),
    Rule(
        "P2",
        "TLS 1.0 accepted (early TLS)",
        Severity.HIGH,
        ("4.2.1",),
        "PCI DSS 4.0.1 4.2.1, Appendix A2; PCI SSC FAQ on SSL/early TLS",
        _PROTOCOL_REMEDIATION,
        _versions("TLSv1.0"),
    ),
    Rule(
        "P3",
        "TLS 1.1 accepted",
        Severity.HIGH,
        ("4.2.1",),
        "NIST SP 800-52r2 (servers shall not support TLS 1.1)",
        _PROTOCOL_REMEDIATION,
        _versions("TLSv1.1"),
        profile_severity={"pci": Severity.MEDIUM},
    ),
    Rule(
        "P4",
        "TLS 1.2 not offered while TLS 1.3 is",
        Severity.INFO,
        ("12.3.3",),
        "NIST SP 800-52r2 (TLS 1.2 support required)",
        "Check that every client supports TLS 1.3, or enable TLS 1.2 with AEAD suites.",
        _tls13_only,
        profiles=NIST,
    ),
    Rule(
        "P5",
        "TLS 1.3 not offered",
        Severity.MEDIUM,
        ("4.2.1", "12.3.3"),
        "NIST SP 800-52r2 (TLS 1.3 support by 2024-01-01)",
        "Enable TLS 1.3 on the server.",
        _no_tls13,
    ),
    Rule(
        "P6",
        "Downgrade to an old version possible (no TLS_FALLBACK_SCSV)",
        Severity.HIGH,
        ("4.2.1",),
        "PCI DSS 4.0.1 4.2.1 (no fallback to insecure versions); RFC 7507",
        "Disable versions below TLS 1.2, or enable TLS_FALLBACK_SCSV support.",
        _fallback,
    ),
    Rule(
        "P7",
        "Plaintext port (no TLS)",
        Severity.HIGH,
        ("4.2.1",),
        "PCI DSS 4.0.1 4.2.1",
        "Serve this port over TLS (or a TLS-terminating sidecar/mesh), or close it.",
        _plaintext,
    ),
    Rule(
        "C1",
        "NULL encryption cipher suite",
        Severity.CRITICAL,
        ("4.2.1",),
        "PCI glossary (strong cryptography); NIST SP 800-52r2",
        _SUITE_REMEDIATION,
        _suites_with("null_encryption"),
    ),
    Rule(
        "C2",
        "Anonymous cipher suite (no authentication)",
        Severity.CRITICAL,
        ("4.2.1",),
        "PCI DSS 4.0.1 4.2.1 (only trusted keys and certificates)",
        _SUITE_REMEDIATION,
        _suites_with("anonymous"),
    ),
    Rule(
        "C3",
        "EXPORT or < 112-bit cipher suite",
        Severity.CRITICAL,
        ("4.2.1",),
        "PCI glossary (112 bits minimum)",
        _SUITE_REMEDIATION,
        _suites_with("export_or_weak"),
    ),
    Rule(
        "C4",
        "RC4 cipher suite",
        Severity.HIGH,
        ("4.2.1",),
        "RFC 7465; PCI DSS 4.0.1 4.2.1",
        _SUITE_REMEDIATION,
        _suites_with("rc4"),
    ),
    Rule(
        "C5",
        "3DES (TDEA) cipher suite",
        Severity.HIGH,
        ("4.2.1",),
        "NIST SP 800-131A r2 (disallowed after 2023); SWEET32",
        _SUITE_REMEDIATION,
        _suites_with("triple_des"),
    ),
    Rule(
        "C6",
        "Static RSA key exchange (no forward secrecy)",
        Severity.HIGH,
        ("4.2.1",),
        "NIST SP 800-131A r2 (PKCS#1 v1.5 key transport disallowed after 2023)",
        _SUITE_REMEDIATION,
        _suites_with("static_rsa"),
        profile_severity={"pci": Severity.MEDIUM},
    ),
    Rule(
        "C7",
        "Static (EC)DH key exchange",
        Severity.MEDIUM,
        ("4.2.1",),
        "NIST SP 800-52r2 (prefer ephemeral key exchange)",
        _SUITE_REMEDIATION,
        _suites_with("static_dh"),
    ),
    Rule(
        "C8",
        "CBC-mode cipher suite",
        Severity.MEDIUM,
        ("4.2.1",),
        "NIST SP 800-52r2 (prefer AEAD); CBC on TLS 1.0 is BEAST-prone",
        _SUITE_REMEDIATION,
        _suites_with(
            "cbc", severity_by_protocol={"SSLv3": Severity.HIGH, "TLSv1.0": Severity.HIGH}
        ),
        profile_severity={"pci": Severity.LOW},
    ),
    Rule(
        "C9",
        "MD5 message authentication",
        Severity.HIGH,
        ("4.2.1",),
        "NIST SP 800-131A r2 (MD5 not approved)",
        _SUITE_REMEDIATION,
        _suites_with("md5_mac"),
    ),
    Rule(
        "C10",
        "HMAC-SHA-1 cipher suite",
        Severity.INFO,
        ("12.3.3",),
        "NIST SP 800-131A r2 (HMAC-SHA-1 still acceptable)",
        "Prefer SHA-256/384 or AEAD suites when clients allow.",
        _suites_with("sha1_mac"),
        profiles=NIST,
    ),
    Rule(
        "C11",
        "Cipher not approved by NIST (ChaCha20, Camellia, ARIA, SEED, IDEA)",
        Severity.INFO,
        ("12.3.3",),
        "NIST SP 800-52r2 (FIPS-approved algorithms)",
        "Where FIPS-approved cryptography is required, remove these suites.",
        _suites_with("non_nist_bulk", tls13_exempt=False),
        profiles=NIST,
    ),
    Rule(
        "C12",
        "Finite-field DHE group below 2048 bits",
        Severity.HIGH,
        ("4.2.1",),
        "PCI glossary (D-H 2048/224)",
        "Configure DH parameters of at least 2048 bits (ffdhe2048+).",
        _weak_dhe,
    ),
    Rule(
        "C13",
        "Elliptic-curve group below 224 bits",
        Severity.HIGH,
        ("4.2.1",),
        "PCI glossary (ECC 224 bits)",
        "Allow only X25519, P-256, P-384 (and hybrid ML-KEM groups).",
        _weak_ec_group,
    ),
    Rule(
        "Q1",
        "No post-quantum key exchange (trend item)",
        Severity.INFO,
        ("12.3.3",),
        "PCI DSS 4.0.1 12.3.3 (monitor continued viability); NIST FIPS 203 (ML-KEM)",
        "Plan for hybrid key exchange (X25519MLKEM768) as libraries and clients allow.",
        _no_post_quantum,
    ),
):
    register(rule)
