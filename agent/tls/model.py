"""Result types of the TLS prober: frozen dataclasses, JSON-ready via :func:`to_json`.

These are the contract between the prober (`agent.tls`) and everything that
consumes it (store, rules, CLI, TUI). Add fields with defaults; never rename.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

#: Protocol names, oldest first, exactly as they appear in JSON and the store.
PROTOCOL_NAMES: tuple[str, ...] = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")


class Transport(enum.StrEnum):
    """What a port speaks, as the prober classified it."""

    TLS = "tls"
    TLS_CLIENT_CERT_REQUIRED = "tls-client-cert-required"
    STARTTLS_POSTGRES = "starttls-postgres"
    STARTTLS_SMTP = "starttls-smtp"
    STARTTLS_LDAP = "starttls-ldap"
    PLAINTEXT_HTTP = "plaintext-http"
    PLAINTEXT = "plaintext"
    CLOSED = "closed"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def is_tls(self) -> bool:
        return self in TLS_TRANSPORTS


TLS_TRANSPORTS = frozenset(
    {
        Transport.TLS,
        Transport.TLS_CLIENT_CERT_REQUIRED,
        Transport.STARTTLS_POSTGRES,
        Transport.STARTTLS_SMTP,
        Transport.STARTTLS_LDAP,
    }
)


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """One endpoint to probe. `sni` defaults to `host` when it is a name."""

    host: str
    port: int
    sni: str | None = None
    #: Hint from discovery (e.g. Service `appProtocol` "postgresql"); the prober still verifies.
    protocol_hint: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class ScanOptions:
    connect_timeout: float = 3.0
    read_timeout: float = 3.0
    #: Hard ceiling for everything done against one endpoint.
    endpoint_deadline: float = 60.0
    #: Endpoints probed at once (global).
    concurrency: int = 64
    #: Connections open at once against one endpoint (do not hammer one server).
    per_endpoint_concurrency: int = 2
    ca_file: str | None = None
    #: Which versions to test; default all of PROTOCOL_NAMES.
    protocols: tuple[str, ...] = PROTOCOL_NAMES
    fetch_certificates: bool = True
    #: Ask the leaf's OCSP responder / CRL distribution point (AIA, CRLDP) after the handshake.
    check_revocation: bool = False
    #: Seconds the whole revocation check of one endpoint may take (every HTTP request in it).
    revocation_timeout: float = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class ProtocolResult:
    accepted: bool
    #: IANA names; in the server's preference order when it imposes one, else in the order found.
    suites: tuple[str, ...] = ()
    #: True: server imposes its order; False: it follows the client; None: unknown (<2 suites).
    server_preference: bool | None = None
    #: Why this version could not be tested, when it could not (not "rejected": that is accepted=False).
    error: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class CertificateInfo:
    sha256: str  # hex, lowercase, of the DER
    sha1: str  # hex, lowercase (Key Vault x5t compares with it)
    subject: str  # RFC 4514
    issuer: str  # RFC 4514
    serial: str  # hex
    not_before: datetime  # aware, UTC
    not_after: datetime  # aware, UTC
    key_type: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA", "ML-DSA", ...
    key_bits: int
    signature_algorithm: str  # e.g. "sha256WithRSAEncryption", "ecdsa-with-SHA384", "ed25519"
    curve: str | None = None  # for EC keys, e.g. "secp256r1"
    signature_hash: str | None = None  # "sha256", "sha1", "md5", None for EdDSA
    san_dns: tuple[str, ...] = ()
    san_ip: tuple[str, ...] = ()
    is_ca: bool = False
    self_signed: bool = False
    spki_sha256: str = ""  # hex of the SubjectPublicKeyInfo DER


@dataclasses.dataclass(frozen=True, slots=True)
class ChainValidation:
    #: True when the presented chain verifies to the CA bundle / system store.
    trusted: bool | None
    #: Verifier's reason when not trusted.
    error: str | None = None
    #: Host name (SNI) matches the leaf's SANs; None when no name to check.
    hostname_match: bool | None = None
    #: Certificates in the presented order each issued by the next.
    ordered: bool | None = None
    #: Presented chain reaches a self-signed root or a trust anchor.
    complete: bool | None = None
    ca_source: str | None = None  # "system" or the --ca-file path


#: Outcomes of a revocation check (:class:`RevocationCheck.status`).
REVOCATION_STATUSES: tuple[str, ...] = ("good", "revoked", "unknown", "not-published")


@dataclasses.dataclass(frozen=True, slots=True)
class RevocationCheck:
    """What the leaf's OCSP responder or CRL said (PCI DSS 4.2.1: not expired or revoked)."""

    #: "good", "revoked", "unknown" (asked, no usable answer: `detail` says why) or
    #: "not-published" (the leaf names no OCSP responder and no CRL distribution point).
    status: str
    #: "ocsp" or "crl": where the answer came from (the last source tried when unknown).
    method: str | None = None
    url: str | None = None
    #: Why the status is unknown, or what was checked; one line.
    detail: str = ""
    revoked_at: datetime | None = None
    #: RFC 5280 reason ("keyCompromise", ...) when revoked and given.
    reason: str | None = None
    checked_at: datetime | None = None
    #: Which certificate of the presented chain this is about: 0 the leaf, 1 the next, ...
    position: int = 0
    #: SHA-256 (hex) of that certificate's DER; None when unknown (older records).
    sha256: str | None = None


#: Outcomes of a stapled OCSP response (:class:`OCSPStaple.status`).
STAPLE_STATUSES: tuple[str, ...] = ("good", "revoked", "unknown")


@dataclasses.dataclass(frozen=True, slots=True)
class OCSPStaple:
    """The OCSP response the server stapled in the chain handshake (status_request, RFC 6066/6961)."""

    #: A response came with the handshake.
    stapled: bool
    #: The leaf carries the TLS feature extension status_request (OCSP Must-Staple, RFC 7633).
    must_staple: bool = False
    #: What the response says about the leaf: "good", "revoked", "unknown"; None when none stapled
    #: or unreadable. Believed only when `verified`.
    status: str | None = None
    #: Signed by the leaf's issuer (or its delegated responder), about the leaf, and current.
    verified: bool | None = None
    produced_at: datetime | None = None
    this_update: datetime | None = None
    next_update: datetime | None = None
    revoked_at: datetime | None = None
    reason: str | None = None
    #: Why it is not believed, or what was found; one line.
    detail: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointScan:
    host: str
    port: int
    transport: Transport
    sni: str | None = None
    #: Keyed by every name in PROTOCOL_NAMES that was tested.
    protocols: Mapping[str, ProtocolResult] = dataclasses.field(default_factory=dict)
    #: Union over versions, IANA group names (e.g. "x25519", "X25519MLKEM768").
    groups: tuple[str, ...] = ()
    #: Per version, IANA group names in the server's preference order where known.
    groups_by_version: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    #: Per version, why its group list may be incomplete: a case the probes cannot decide (an
    #: ECDSA-only server imposing its curve order in TLS 1.2). Absent when the list is complete.
    groups_incomplete: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Leaf first, as presented by the server.
    certificates: tuple[CertificateInfo, ...] = ()
    chain: ChainValidation | None = None
    #: Smallest finite-field DHE group size seen (bits), None when no DHE suite was accepted.
    dhe_min_bits: int | None = None
    #: Finite-field DHE groups seen (TLS <= 1.2): RFC 7919 names ("ffdhe2048"), published primes
    #: with their RFC ("modp2048 (RFC 3526)", "dh2048_256 (RFC 5114)") or, for a prime that is
    #: none of them, "custom-DH-<bits>" (e.g. "custom-DH-1024"); sizes: dh_groups.group_bits.
    dhe_groups: tuple[str, ...] = ()
    #: True: the server negotiates RFC 7919 groups from the client's supported_groups (TLS 1.2);
    #: False: it sends its own DH parameters whatever is offered; None: no DHE, or not known.
    dhe_group_negotiation: bool | None = None
    #: TLS_FALLBACK_SCSV honoured (None: not applicable or not tested).
    fallback_scsv: bool | None = None
    #: Client certificate demanded in the handshake (mTLS).
    client_cert_required: bool = False
    #: Negotiated in the full handshake: e.g. ("TLSv1.3", "TLS_AES_256_GCM_SHA384", "X25519MLKEM768").
    negotiated: tuple[str, str, str | None] | None = None
    error: str | None = None
    #: Non-fatal problems met while probing (one line each).
    warnings: tuple[str, ...] = ()
    started_at: datetime | None = None
    duration_s: float = 0.0
    connections: int = 0
    #: The leaf's revocation status; None when not checked (ScanOptions.check_revocation off).
    revocation: RevocationCheck | None = None
    #: One check per presented certificate except a self-signed root, leaf first (position 0);
    #: empty when not checked. ``revocation`` is the leaf's entry.
    chain_revocation: tuple[RevocationCheck, ...] = ()
    #: The stapled OCSP response of the chain handshake; None when no chain handshake was made.
    ocsp_staple: OCSPStaple | None = None

    @property
    def accepted_protocols(self) -> tuple[str, ...]:
        return tuple(
            name
            for name in PROTOCOL_NAMES
            if name in self.protocols and self.protocols[name].accepted
        )


def to_json(value: Any) -> Any:
    """The JSON form of any result above (datetimes as ISO 8601, enums as values)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_json(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return [to_json(item) for item in value]
    return value
