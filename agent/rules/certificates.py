"""Certificate rules (reference table K*), over the chain an endpoint presents.

Sources: PCI DSS v4.0.1 4.2.1 (valid, not expired, trusted) and 4.2.1.1; PCI
glossary (RSA 2048, ECC 224); NIST SP 800-131A r2 (no SHA-1/MD5 signatures);
NIST SP 800-57 Pt 1 (112-bit strength acceptable through 2030); CA/Browser
Forum baseline requirements (398-day public certificates).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

from agent.rules.model import Rule, RuleSettings, Severity, Violation
from agent.rules.registry import register
from agent.rules.subjects import EndpointSubject
from agent.tls.model import CertificateInfo, RevocationCheck

REQ_CERTS = ("4.2.1", "4.2.1.1")


def _label(cert: CertificateInfo, position: int) -> str:
    role = "leaf" if position == 0 else f"chain[{position}]"
    return f"{role} {cert.subject} (sha256 {cert.sha256[:16]}…)"


def _chain(subject: EndpointSubject) -> Iterator[tuple[int, CertificateInfo]]:
    yield from enumerate(subject.scan.certificates)


def _rsa_small(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    for position, cert in _chain(subject):
        if cert.key_type in ("RSA", "DSA") and cert.key_bits < 2048:
            yield Violation(
                f"{_label(cert, position)}: {cert.key_type} {cert.key_bits}-bit key", cert.sha256
            )


def _ec_small(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    for position, cert in _chain(subject):
        if cert.key_type == "EC" and cert.key_bits < 224:
            yield Violation(
                f"{_label(cert, position)}: EC {cert.key_bits}-bit key ({cert.curve})", cert.sha256
            )


def _strength_112(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    for position, cert in _chain(subject):
        if (cert.key_type == "RSA" and 2048 <= cert.key_bits < 3072) or (
            cert.key_type == "EC" and 224 <= cert.key_bits < 256
        ):
            yield Violation(
                f"{_label(cert, position)}: {cert.key_type} {cert.key_bits} gives 112-bit strength,"
                " disallowed by NIST from 2031",
                cert.sha256,
            )


def _weak_signature(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    for position, cert in _chain(subject):
        if cert.self_signed and position > 0:
            continue  # a root's own signature is not relied on
        if (cert.signature_hash or "").lower() in ("md5", "sha1"):
            yield Violation(
                f"{_label(cert, position)}: signed with {cert.signature_algorithm}", cert.sha256
            )


def _validity(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    for position, cert in _chain(subject):
        if cert.not_after <= subject.now:
            yield Violation(
                f"{_label(cert, position)}: expired {cert.not_after:%Y-%m-%d}", cert.sha256
            )
        elif cert.not_before > subject.now:
            yield Violation(
                f"{_label(cert, position)}: not valid before {cert.not_before:%Y-%m-%d}",
                cert.sha256,
            )


def _expiring(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    for position, cert in _chain(subject):
        left = cert.not_after - subject.now
        if timedelta(0) < left <= timedelta(days=settings.expiry_warn_days):
            critical = left <= timedelta(days=settings.expiry_critical_days)
            yield Violation(
                f"{_label(cert, position)}: expires {cert.not_after:%Y-%m-%d} ({left.days} days left)",
                cert.sha256,
                severity=Severity.HIGH if critical else None,
            )


def _untrusted(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    chain = subject.scan.chain
    if chain is None or not subject.scan.certificates:
        return
    if chain.trusted is False:
        yield Violation(
            f"chain does not verify to a trusted CA: {chain.error or 'no reason given'}", "chain"
        )
    if chain.hostname_match is False:
        yield Violation(
            f"certificate does not match the name {subject.scan.sni or subject.scan.host}",
            "hostname",
        )


def _long_lived_public(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    chain = subject.scan.chain
    if (
        not subject.scan.certificates
        or chain is None
        or not chain.trusted
        or chain.ca_source != "system"
    ):
        return
    leaf = subject.scan.certificates[0]
    lifetime = (leaf.not_after - leaf.not_before).days
    if lifetime > 398:
        yield Violation(
            f"{_label(leaf, 0)}: public certificate valid for {lifetime} days (> 398)", leaf.sha256
        )


_SHA256 = re.compile(r"[0-9a-f]{64}")

#: Fields the 4.2.1.1 inventory needs per certificate: name -> "is it missing?" (position 0 is the leaf).
_INVENTORY_FIELDS: tuple[tuple[str, Callable[[CertificateInfo, int], bool]], ...] = (
    ("subject", lambda cert, _: not cert.subject.strip()),
    ("SANs", lambda cert, position: position == 0 and not (cert.san_dns or cert.san_ip)),
    ("issuer", lambda cert, _: not cert.issuer.strip()),
    ("serial", lambda cert, _: not cert.serial.strip()),
    ("key algorithm", lambda cert, _: not cert.key_type or cert.key_type == "unknown"),
    ("key size", lambda cert, _: cert.key_bits <= 0),
    ("signature algorithm", lambda cert, _: not cert.signature_algorithm.strip()),
    ("notBefore", lambda cert, _: cert.not_before is None),
    ("notAfter", lambda cert, _: cert.not_after is None),
    ("SHA-256", lambda cert, _: not _SHA256.fullmatch(cert.sha256 or "")),
)


def inventory_gaps(cert: CertificateInfo, position: int) -> list[str]:
    """Inventory fields (4.2.1.1) this certificate lacks; SANs are required of the leaf only."""
    return [name for name, missing in _INVENTORY_FIELDS if missing(cert, position)]


def _inventory_incomplete(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    scan = subject.scan
    where_used = bool(scan.host) and scan.port > 0
    for position, cert in _chain(subject):
        gaps = inventory_gaps(cert, position)
        if not where_used:
            gaps.append("where used")
        if gaps:
            yield Violation(
                f"{_label(cert, position)}: inventory lacks {', '.join(gaps)}",
                cert.sha256 or f"position-{position}",
            )


def _revocation_checks(subject: EndpointSubject) -> tuple[RevocationCheck, ...]:
    """Each checked certificate's answer, leaf first (older scans carry the leaf's alone)."""
    scan = subject.scan
    if scan.chain_revocation:
        return scan.chain_revocation
    return (scan.revocation,) if scan.revocation is not None else ()


def _revoked(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    """A revoked certificate anywhere in the chain fails; a revoked intermediate as a revoked leaf."""
    certificates = subject.scan.certificates
    for check in _revocation_checks(subject):
        if check.status in ("good", "not-published") or not certificates:
            continue
        position = check.position if 0 <= check.position < len(certificates) else 0
        label = _label(certificates[position], position)
        # the leaf keeps its historical keys; other certificates are told apart by fingerprint
        suffix = "" if position == 0 else f":{check.sha256 or position}"
        where = (check.method or "").upper().replace("OCSP-STAPLE", "stapled OCSP")
        source = f" ({where} {check.url})" if check.url else (f" ({where})" if where else "")
        if check.status == "revoked":
            when = f" on {check.revoked_at:%Y-%m-%d}" if check.revoked_at else ""
            why = f", reason {check.reason}" if check.reason else ""
            yield Violation(f"{label}: REVOKED{when}{why}{source}", "revoked" + suffix)
        else:
            yield Violation(
                f"{label}: revocation status UNKNOWN: {check.detail or 'no reason given'}",
                "unknown" + suffix,
                severity=Severity.INFO,
            )


def _stapling(subject: EndpointSubject, settings: RuleSettings) -> Iterator[Violation]:
    """Must-Staple without a staple fails (clients that honour RFC 7633 refuse the connection);
    a staple that cannot be believed is reported lower (clients may reject it)."""
    staple = subject.scan.ocsp_staple
    if staple is None or not subject.scan.certificates:
        return
    leaf = _label(subject.scan.certificates[0], 0)
    if staple.must_staple and not staple.stapled:
        yield Violation(
            f"{leaf}: OCSP Must-Staple (TLS feature status_request) but no OCSP response stapled",
            "must-staple",
        )
    elif staple.stapled and staple.verified is False:
        yield Violation(
            f"{leaf}: stapled OCSP response not believed: {staple.detail}",
            "staple-invalid",
            severity=None if staple.must_staple else Severity.LOW,
        )


_REPLACE = "Reissue the certificate with an RSA >= 2048 (3072 preferred) or P-256/P-384 key and a SHA-256+ signature."

for rule in (
    Rule(
        "K1",
        "RSA/DSA key below 2048 bits",
        Severity.HIGH,
        REQ_CERTS,
        "PCI glossary; NIST SP 800-131A r2",
        _REPLACE,
        _rsa_small,
    ),
    Rule(
        "K2",
        "EC key below 224 bits",
        Severity.HIGH,
        REQ_CERTS,
        "PCI glossary (ECC 224)",
        _REPLACE,
        _ec_small,
    ),
    Rule(
        "K3",
        "112-bit key strength (plan before 2031)",
        Severity.INFO,
        ("4.2.1.1", "12.3.3"),
        "NIST SP 800-57 Pt 1 r5 (112 bits acceptable through 2030)",
        "Plan migration to RSA 3072+ or P-256+ before 2031.",
        _strength_112,
    ),
    Rule(
        "K4",
        "MD5 or SHA-1 certificate signature",
        Severity.HIGH,
        REQ_CERTS,
        "NIST SP 800-131A r2 (SHA-1 disallowed for signatures)",
        _REPLACE,
        _weak_signature,
    ),
    Rule(
        "K5",
        "Certificate expired or not yet valid",
        Severity.CRITICAL,
        REQ_CERTS,
        "PCI DSS 4.0.1 4.2.1 (certificates valid and not expired)",
        "Renew and deploy the certificate.",
        _validity,
    ),
    Rule(
        "K6",
        "Certificate expires soon",
        Severity.MEDIUM,
        REQ_CERTS,
        "Operational (warn 28 days, critical 14 days by default)",
        "Renew the certificate (automate rotation, e.g. cert-manager / Key Vault auto-renewal).",
        _expiring,
    ),
    Rule(
        "K7",
        "Certificate of the chain revoked (OCSP / CRL / stapled OCSP)",
        Severity.CRITICAL,
        ("4.2.1",),
        "PCI DSS 4.0.1 4.2.1 (certificates are not expired or revoked); RFC 6960, RFC 5280",
        "Replace the revoked certificate (leaf or intermediate: reissue under a CA that is not"
        " revoked) now and find out why it was revoked. When the status is UNKNOWN, let the agent"
        " reach the certificate's OCSP responder / CRL distribution point.",
        _revoked,
    ),
    Rule(
        "K8",
        "Certificate not trusted or name mismatch",
        Severity.HIGH,
        REQ_CERTS,
        "PCI DSS 4.0.1 4.2.1 (only trusted keys and certificates), testing procedure 4.2.1.d",
        "Serve a chain issued by a trusted (or documented internal) CA whose SANs cover the name used.",
        _untrusted,
    ),
    Rule(
        "K9",
        "Public certificate lifetime above 398 days",
        Severity.LOW,
        ("4.2.1",),
        "CA/Browser Forum baseline requirements (SC-081)",
        "Reissue with a shorter lifetime; automate renewal.",
        _long_lived_public,
    ),
    Rule(
        "K10",
        "Certificate inventory record incomplete",
        Severity.HIGH,
        ("4.2.1.1",),
        "PCI DSS 4.0.1 4.2.1.1 (inventory of trusted keys and certificates)",
        "Reissue the certificate with a subject and subjectAltName entries for every name it serves;"
        " a field the prober could not read (key size, signature algorithm) needs a manual inventory entry.",
        _inventory_incomplete,
    ),
    Rule(
        "K11",
        "OCSP Must-Staple without a valid stapled response",
        Severity.HIGH,
        ("4.2.1",),
        "RFC 7633 (TLS feature status_request), RFC 6066 / RFC 6961 (OCSP stapling), RFC 6960",
        "Turn OCSP stapling on in the server (e.g. nginx ssl_stapling, openssl -status_file) and"
        " keep the stapled response fresh, or reissue the certificate without Must-Staple.",
        _stapling,
    ),
):
    register(rule)
