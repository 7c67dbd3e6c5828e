"""Result types of the CSI / Key Vault inspection: frozen dataclasses, facts only.

Nothing here can hold a secret value or private-key bytes: file contents are
reduced to :class:`FileFacts` (kind, certificate facts, key type and size,
a keyed hash for change detection) the moment they are read.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

from agent.tls.model import CertificateInfo


class ContentKind(enum.StrEnum):
    """What a mounted file holds, judged by its content (never its name)."""

    CERTIFICATE = "certificate"  # one certificate, no private key
    CHAIN = "chain"  # several certificates, no private key
    CERTIFICATE_WITH_KEY = "certificate-with-key"  # private key(s) and certificate(s), PEM
    PRIVATE_KEY = "private-key"  # private key(s) only
    PUBLIC_KEY = "public-key"  # SubjectPublicKeyInfo (what objectType=key mounts)
    PFX = "pfx"  # PKCS#12, raw DER or base64 text
    OPAQUE = "opaque"  # anything else: passwords, tokens, connection strings
    EMPTY = "empty"

    @property
    def holds_private_key(self) -> bool:
        return self in (ContentKind.CERTIFICATE_WITH_KEY, ContentKind.PRIVATE_KEY, ContentKind.PFX)


@dataclasses.dataclass(frozen=True, slots=True)
class KeyFacts:
    """A private or public key, described without its bytes."""

    key_type: str  # "RSA", "EC", "Ed25519", "Ed448", "DSA", or "encrypted"/"unknown"
    key_bits: int  # 0 when unknown (e.g. an encrypted private key)
    curve: str | None = None
    #: SHA-256 of the public part's SubjectPublicKeyInfo DER (public; pairs a key with its certificate).
    spki_sha256: str = ""
    encrypted: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class FileFacts:
    """One file of a mount, as facts."""

    path: str  # relative to the mount, e.g. "tls.crt" or "db-password/1" (version history)
    kind: ContentKind
    mode: int  # permission bits, e.g. 0o440
    size: int
    #: HMAC-SHA256 of the content under the agent's own key: changes when the content does,
    #: reveals nothing of a low-entropy value to anyone without the key.
    keyed_hash: str
    certificates: tuple[CertificateInfo, ...] = ()
    private_keys: tuple[KeyFacts, ...] = ()
    public_keys: tuple[KeyFacts, ...] = ()
    #: PFX only: "der" or "base64" (how the bytes are stored), and whether it needs a password.
    pfx_encoding: str | None = None
    pfx_password_protected: bool | None = None
    #: Why the content could not be fully read (never content itself).
    error: str | None = None

    @property
    def world_readable(self) -> bool:
        return bool(self.mode & 0o004)

    @property
    def leaf(self) -> CertificateInfo | None:
        """The first non-CA certificate, else the first certificate."""
        for info in self.certificates:
            if not info.is_ca:
                return info
        return self.certificates[0] if self.certificates else None


@dataclasses.dataclass(frozen=True, slots=True)
class MountSnapshot:
    """A CSI mount directory as read in one cycle."""

    path: str
    exists: bool
    #: The atomic writer's timestamped directory ``..2026_05_01_10_00_00.123`` that ``..data`` points to.
    data_dir: str | None = None
    #: When the driver last wrote the mount (from the timestamped directory, else the newest mtime).
    written_at: datetime | None = None
    files: tuple[FileFacts, ...] = ()
    error: str | None = None


class ObjectType(enum.StrEnum):
    SECRET = "secret"
    KEY = "key"
    CERT = "cert"


class IdentityMode(enum.StrEnum):
    """How the Azure provider authenticates to Key Vault for one volume."""

    WORKLOAD_IDENTITY = "workload-identity"
    IDENTITY_BINDING = "identity-binding"  # useAzureTokenProxy
    POD_IDENTITY = "pod-identity"  # aad-pod-identity, deprecated
    VM_MANAGED_IDENTITY = "vm-managed-identity"  # node (VMSS) identity, user- or system-assigned
    SERVICE_PRINCIPAL = (
        "service-principal"  # nodePublishSecretRef, clientid/clientsecret in a K8s Secret
    )
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True, slots=True)
class VaultError:
    """Why Key Vault metadata could not be read: recorded, never raised into the cycle."""

    #: "unauthorized", "forbidden", "not-found", "throttled", "unreachable", "credential", "error"
    kind: str
    message: str
    status: int | None = None
    retry_after_s: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class VersionFacts:
    """One version of a Key Vault object: metadata only."""

    version: str
    enabled: bool | None
    created_on: datetime | None = None
    updated_on: datetime | None = None
    not_before: datetime | None = None
    expires_on: datetime | None = None
    #: Certificates: SHA-1 thumbprint (x5t) as lowercase hex.
    x509_thumbprint: str | None = None
    #: Keys (and a certificate's key): "RSA", "RSA-HSM", "EC", "EC-HSM", "oct-HSM", ...
    key_type: str | None = None
    key_bits: int | None = None
    curve: str | None = None
    content_type: str | None = None
    managed: bool | None = None
    recovery_level: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RotationPolicyFacts:
    """A key's rotation policy, or a certificate's lifetime actions."""

    #: True when some lifetime action rotates / renews automatically.
    rotates: bool
    #: ISO-8601 durations as Key Vault returns them (e.g. "P90D").
    time_after_create: str | None = None
    time_before_expiry: str | None = None
    expires_in: str | None = None
    #: Certificates: renew at this percentage of the lifetime / days before expiry.
    lifetime_percentage: int | None = None
    days_before_expiry: int | None = None
    actions: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class VaultObjectFacts:
    """A Key Vault object (secret, key or certificate) and its versions, newest first."""

    vault_name: str
    vault_url: str
    object_type: ObjectType
    object_name: str
    versions: tuple[VersionFacts, ...] = ()
    rotation_policy: RotationPolicyFacts | None = None
    #: True: RSA-HSM/EC-HSM key type or a Managed HSM; False: software-protected; None: unknown.
    hsm_backed: bool | None = None
    error: VaultError | None = None
    fetched_at: datetime | None = None
    #: More versions exist than were read (listing cut at the configured maximum).
    truncated: bool = False

    @property
    def latest(self) -> VersionFacts | None:
        """The most recently created version (what the provider mounts for "latest")."""
        return self.versions[0] if self.versions else None

    def version(self, version_id: str) -> VersionFacts | None:
        for item in self.versions:
            if item.version == version_id:
                return item
        return None
