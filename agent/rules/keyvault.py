"""Key management rules for CSI-mounted Key Vault objects (reference table V*, plus identity modes).

Requirements (PCI DSS v4.0.1): 3.6.1 keys stored securely in the fewest locations and
accessible to the fewest custodians; 3.7.4 a defined cryptoperiod and key changes at its
end; 3.7.5 retired or replaced keys are not used; 4.2.1 strong cryptography, valid
certificates; 4.2.1.1 inventory of trusted keys and certificates. PCI sets no rotation
interval: the cryptoperiods are configurable (``--secrets-cryptoperiods``).

Subjects (see :mod:`agent.secrets.subjects`): ``secret_mount`` (a pod's CSI volume),
``secret_object`` (one object mounted in it, compared with the vault) and
``vault_object`` (a Key Vault object's own metadata); ``csi_driver`` (the driver's
DaemonSet, :mod:`agent.discovery.csi_driver`) for V6.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.rules.model import Rule, RuleSettings, Severity, Violation
from agent.rules.registry import register
from agent.secrets.compare import iso_duration_days
from agent.secrets.model import ContentKind, IdentityMode, ObjectType
from agent.secrets.subjects import (
    SECRET_MOUNT,
    SECRET_OBJECT,
    VAULT_OBJECT,
    MountSubject,
    ObjectSubject,
    VaultSubject,
)

SOURCE_PROVIDER = "Azure Key Vault provider for Secrets Store CSI docs"
SOURCE_GLOSSARY = "PCI DSS glossary (strong cryptography); NIST SP 800-131A r2"
SOURCE_57 = "PCI DSS v4.0.1 3.7.4; NIST SP 800-57 Pt 1 r5 5.3"

#: ``subject_type`` of the driver's own facts (an ``agent.discovery.csi_driver.CsiDriverFacts``);
#: subject key ``csi-driver:<namespace>/<daemonset>``.
CSI_DRIVER = "csi_driver"


def _version_label(version: str | None) -> str:
    return f"version {version[:12]}…" if version else "the current version"


# ------------------------------------------------------------------ mounts: identities, modes, sync


def _service_principal(subject: MountSubject, settings: RuleSettings) -> Iterator[Violation]:
    if subject.identity.mode is IdentityMode.SERVICE_PRINCIPAL:
        yield Violation(
            f"reads Key Vault as a service principal whose client secret is stored in Kubernetes "
            f"Secret {subject.identity.credential_secret} (plaintext in etcd)"
        )


def _pod_identity(subject: MountSubject, settings: RuleSettings) -> Iterator[Violation]:
    if subject.identity.mode is IdentityMode.POD_IDENTITY:
        yield Violation("uses aad-pod-identity (usePodIdentity), a deprecated identity mode")


def _node_identity(subject: MountSubject, settings: RuleSettings) -> Iterator[Violation]:
    if subject.identity.mode is IdentityMode.VM_MANAGED_IDENTITY:
        which = subject.identity.principal or "system-assigned"
        yield Violation(
            f"uses the node's managed identity ({which}): every pod on the node can read this vault"
        )


def _synced_private_key(subject: MountSubject, settings: RuleSettings) -> Iterator[Violation]:
    for secret in subject.synced_private_keys:
        yield Violation(
            f"a private key is synced into Kubernetes Secret {secret} (secretObjects): one more "
            "location and form of the key",
            secret,
        )


def _world_readable(subject: MountSubject, settings: RuleSettings) -> Iterator[Violation]:
    for facts in subject.snapshot.files:
        if (
            facts.world_readable
            and facts.kind is not ContentKind.PUBLIC_KEY
            and facts.kind is not ContentKind.CERTIFICATE
            and facts.kind is not ContentKind.CHAIN
        ):
            yield Violation(
                f"{facts.path} ({facts.kind.value}) is world-readable (mode {facts.mode:04o});"
                " set filePermission to 0440 or stricter",
                facts.path,
            )


def _private_key_mode(subject: MountSubject, settings: RuleSettings) -> Iterator[Violation]:
    for facts in subject.snapshot.files:
        if facts.kind.holds_private_key and facts.mode & 0o337 and not facts.world_readable:
            yield Violation(
                f"{facts.path} holds a private key with mode {facts.mode:04o} (broader than 0440)",
                facts.path,
            )


def _spc_problems(subject: MountSubject, settings: RuleSettings) -> Iterator[Violation]:
    if subject.spc is not None:
        for problem in subject.spc.problems:
            yield Violation(f"SecretProviderClass {subject.spc.key}: {problem}", problem[:60])


# ------------------------------------------------------------------ mounted objects vs the vault


def _expired_or_disabled(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    comparison = subject.comparison
    if comparison is None:
        return
    label = _version_label(comparison.mounted_version)
    if comparison.mounted_enabled is False:
        yield Violation(f"mounted {label} is disabled in Key Vault but still in use", "disabled")
    if comparison.mounted_expired and comparison.mounted_expires_on is not None:
        yield Violation(
            f"mounted {label} expired in Key Vault on {comparison.mounted_expires_on:%Y-%m-%d}",
            "expired",
        )


def _stale(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    comparison = subject.comparison
    if comparison is None or comparison.pinned or not comparison.stale:
        return
    yield Violation(
        f"mounted {_version_label(comparison.mounted_version)} is not the latest "
        f"({comparison.newer_versions} newer; latest {_version_label(comparison.latest_version)}):"
        " rotation has not reached this pod"
    )


def _pinned(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    comparison = subject.comparison
    if comparison is None or not comparison.pinned or comparison.is_latest is not False:
        return
    yield Violation(
        f"objectVersion is pinned to {_version_label(subject.spec.object_version)} while "
        f"{comparison.newer_versions or 'newer'} newer version(s) exist in Key Vault"
    )


def _no_expiry(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    comparison = subject.comparison
    if comparison is not None and comparison.mounted_has_expiry is False:
        yield Violation(
            f"{_version_label(comparison.mounted_version)} has no expiry date in Key Vault (no defined cryptoperiod)"
        )


def _cryptoperiod(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    comparison = subject.comparison
    if (
        comparison is not None
        and comparison.cryptoperiod_exceeded
        and comparison.age_days is not None
    ):
        yield Violation(
            f"{_version_label(comparison.mounted_version)} is {comparison.age_days:.0f} days old, beyond "
            f"the {comparison.cryptoperiod_days}-day cryptoperiod for {subject.spec.object_type.value} objects"
        )


def _thumbprint(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    comparison = subject.comparison
    if comparison is not None and comparison.thumbprint_match is False:
        yield Violation(
            "the mounted leaf certificate's SHA-1 thumbprint differs from the vault version's x5t:"
            " the file is not what Key Vault says is mounted"
        )


def _weak_mounted_key(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    for facts in subject.files:
        for key in (*facts.private_keys, *facts.public_keys):
            if key.key_type in ("RSA", "DSA") and 0 < key.key_bits < 2048:
                yield Violation(
                    f"{facts.path}: {key.key_type} {key.key_bits}-bit key",
                    f"{facts.path}:{key.spki_sha256[:16]}",
                )
            elif key.key_type == "EC" and 0 < key.key_bits < 224:
                yield Violation(
                    f"{facts.path}: EC {key.key_bits}-bit key",
                    f"{facts.path}:{key.spki_sha256[:16]}",
                )
        for cert in facts.certificates:
            if (
                cert.key_type in ("RSA", "DSA")
                and cert.key_bits < 2048
                or cert.key_type == "EC"
                and cert.key_bits < 224
            ):
                yield Violation(
                    f"{facts.path}: certificate {cert.subject} has a {cert.key_type} {cert.key_bits}-bit key",
                    cert.sha256,
                )
            if (cert.signature_hash or "").lower() in ("md5", "sha1") and not (
                cert.self_signed and cert.is_ca
            ):
                yield Violation(
                    f"{facts.path}: certificate {cert.subject} is signed with {cert.signature_algorithm}",
                    cert.sha256 + ":sig",
                )


def _mounted_certificate_validity(
    subject: ObjectSubject, settings: RuleSettings
) -> Iterator[Violation]:
    for facts in subject.files:
        for cert in facts.certificates:
            if cert.not_after <= subject.now:
                yield Violation(
                    f"{facts.path}: certificate {cert.subject} expired {cert.not_after:%Y-%m-%d}",
                    cert.sha256,
                )
            elif (cert.not_after - subject.now).days < settings.expiry_warn_days and not cert.is_ca:
                days = (cert.not_after - subject.now).days
                severity = (
                    Severity.HIGH if days < settings.expiry_critical_days else Severity.MEDIUM
                )
                yield Violation(
                    f"{facts.path}: certificate {cert.subject} expires in {days} days ({cert.not_after:%Y-%m-%d})",
                    cert.sha256 + ":soon",
                    severity,
                )


def _vault_unreadable(subject: ObjectSubject, settings: RuleSettings) -> Iterator[Violation]:
    vault = subject.vault
    if (
        vault is not None
        and vault.error is not None
        and vault.error.kind in ("forbidden", "not-found", "unauthorized", "credential")
    ):
        yield Violation(
            f"Key Vault metadata for {vault.object_type.value}/{vault.object_name} could not be read "
            f"({vault.error.kind}{f' {vault.error.status}' if vault.error.status else ''}): version, expiry and "
            "rotation cannot be evidenced",
            vault.error.kind,
        )


# ------------------------------------------------------------------ vault objects


def _rotation_policy(subject: VaultSubject, settings: RuleSettings) -> Iterator[Violation]:
    facts = subject.facts
    if facts.error is not None or facts.object_type is ObjectType.SECRET:
        return
    policy = facts.rotation_policy
    noun = "key" if facts.object_type is ObjectType.KEY else "certificate"
    automatic = "rotation" if facts.object_type is ObjectType.KEY else "auto-renewal"
    if policy is None or not policy.rotates:
        yield Violation(
            f"{noun} {facts.object_name} has no automatic {automatic} policy", "no-policy"
        )
        return
    expires = iso_duration_days(policy.expires_in)
    if expires is not None and expires > subject.cryptoperiod_days:
        yield Violation(
            f"{noun} {facts.object_name}: rotation policy lets versions live {policy.expires_in}"
            f" (> {subject.cryptoperiod_days}-day cryptoperiod)",
            "expires-in",
        )
    rotate_after = iso_duration_days(policy.time_after_create)
    if rotate_after is not None and rotate_after > subject.cryptoperiod_days:
        yield Violation(
            f"{noun} {facts.object_name}: rotates after {policy.time_after_create}"
            f" (> {subject.cryptoperiod_days}-day cryptoperiod)",
            "rotate-after",
        )


def _weak_vault_key(subject: VaultSubject, settings: RuleSettings) -> Iterator[Violation]:
    latest = subject.facts.latest
    if latest is None or not latest.key_type or not latest.key_bits:
        return
    family = latest.key_type.removesuffix("-HSM")
    if family == "RSA" and latest.key_bits < 2048 or family == "EC" and latest.key_bits < 224:
        yield Violation(
            f"{subject.facts.object_name}: {latest.key_type} {latest.key_bits}-bit key in Key Vault"
        )


def _not_hsm(subject: VaultSubject, settings: RuleSettings) -> Iterator[Violation]:
    facts = subject.facts
    if (
        facts.error is None
        and facts.object_type is not ObjectType.SECRET
        and facts.hsm_backed is False
    ):
        key_type = facts.latest.key_type if facts.latest else None
        yield Violation(
            f"{facts.object_type.value} {facts.object_name} is software-protected ({key_type or 'unknown'} key type);"
            " an HSM-backed key (RSA-HSM/EC-HSM or Managed HSM) gives FIPS 140-2 Level 3 storage"
        )


def _recovery(subject: VaultSubject, settings: RuleSettings) -> Iterator[Violation]:
    latest = subject.facts.latest
    if latest is not None and latest.recovery_level and "Recoverable" not in latest.recovery_level:
        yield Violation(
            f"{subject.facts.object_name}: recovery level {latest.recovery_level} (purge without soft delete)"
        )


# ------------------------------------------------------------------ the CSI driver itself


def _rotation_disabled(subject: Any, settings: RuleSettings) -> Iterator[Violation]:
    if subject.rotation_enabled is False:
        how = subject.rotation_argument or "--enable-secret-rotation absent (default false)"
        yield Violation(
            f"DaemonSet {subject.namespace}/{subject.daemonset} runs the driver with {how}:"
            " a rotated Key Vault version reaches a pod only when the pod is recreated"
        )


_RULES = (
    Rule(
        "V1",
        "Key Vault key or certificate without automatic rotation within the cryptoperiod",
        Severity.MEDIUM,
        ("3.7.4",),
        SOURCE_57,
        "Set a key rotation policy (Rotate action, expiryTime within the cryptoperiod) or certificate AutoRenew lifetime action.",
        _rotation_policy,
        subject_type=VAULT_OBJECT,
    ),
    Rule(
        "V2",
        "Mounted Key Vault version has no expiry date",
        Severity.MEDIUM,
        ("3.7.4",),
        SOURCE_57,
        "Set an expiry (exp) on every secret, key and certificate version so each has a defined cryptoperiod.",
        _no_expiry,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V3",
        "Mounted Key Vault version is expired or disabled",
        Severity.HIGH,
        ("3.7.5",),
        "PCI DSS v4.0.1 3.7.5 (retired or replaced keys are not used)",
        "Roll the pod onto a current enabled version (enable rotation, or update objectVersion) and retire the old one.",
        _expired_or_disabled,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V4",
        "Mounted version is not the latest (rotation has not reached the pod)",
        Severity.MEDIUM,
        ("3.7.5",),
        "Secrets Store CSI driver secret auto-rotation docs",
        "Enable --enable-secret-rotation (AKS add-on: --enable-secret-rotation) and restart consumers that read values only at start.",
        _stale,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V5",
        "objectVersion pinned while newer versions exist",
        Severity.MEDIUM,
        ("3.7.4", "3.7.5"),
        SOURCE_PROVIDER,
        "Leave objectVersion empty (latest) or move the pin to the current version.",
        _pinned,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V6",
        "Secrets Store CSI driver rotation disabled",
        Severity.MEDIUM,
        ("3.7.4",),
        "Secrets Store CSI driver --enable-secret-rotation (default false); reference V6",
        "Enable rotation: AKS add-on `az aks addon update --addon azure-keyvault-secrets-provider"
        " --enable-secret-rotation`, Helm `enableSecretRotation=true`; set --rotation-poll-interval"
        " within the time a replaced key may stay in use.",
        _rotation_disabled,
        subject_type=CSI_DRIVER,
    ),
    Rule(
        "V7",
        "Service-principal credentials stored in a Kubernetes Secret",
        Severity.MEDIUM,
        ("3.6.1",),
        SOURCE_PROVIDER,
        "Use workload identity (clientID) instead of nodePublishSecretRef; delete the clientid/clientsecret Secret.",
        _service_principal,
        subject_type=SECRET_MOUNT,
    ),
    Rule(
        "V8",
        "Private key synced into a Kubernetes Secret",
        Severity.MEDIUM,
        ("3.6.1",),
        "Secrets Store CSI driver best practices (sync-as-kubernetes-secret)",
        "Drop the secretObjects entry (read the key from the mount) or, if required, encrypt etcd with KMS.",
        _synced_private_key,
        subject_type=SECRET_MOUNT,
    ),
    Rule(
        "V9",
        "Private key file mode broader than 0440",
        Severity.INFO,
        ("3.6.1",),
        SOURCE_PROVIDER,
        "Set filePermission: 0440 (or 0400) on the object.",
        _private_key_mode,
        subject_type=SECRET_MOUNT,
    ),
    Rule(
        "V11",
        "Weak key or certificate mounted from Key Vault",
        Severity.HIGH,
        ("4.2.1",),
        SOURCE_GLOSSARY,
        "Replace with RSA >= 2048 (3072 for new keys), EC P-256 or stronger, SHA-256+ signatures.",
        _weak_mounted_key,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V11K",
        "Weak key type or size in Key Vault",
        Severity.HIGH,
        ("4.2.1",),
        SOURCE_GLOSSARY,
        "Create a new version with RSA >= 2048 or EC P-256+ and rotate consumers.",
        _weak_vault_key,
        subject_type=VAULT_OBJECT,
    ),
    Rule(
        "V10",
        "Vault object without soft-delete recovery",
        Severity.LOW,
        ("3.6.1",),
        "Key Vault recoveryLevel",
        "Enable soft delete and purge protection on the vault.",
        _recovery,
        subject_type=VAULT_OBJECT,
    ),
    Rule(
        "V13",
        "Deprecated pod identity (aad-pod-identity)",
        Severity.MEDIUM,
        ("3.6.1",),
        SOURCE_PROVIDER,
        "Migrate to workload identity (clientID) or identity binding.",
        _pod_identity,
        subject_type=SECRET_MOUNT,
    ),
    Rule(
        "V14",
        "Node-wide managed identity reads the vault",
        Severity.MEDIUM,
        ("3.6.1",),
        SOURCE_PROVIDER,
        "Use workload identity so only this workload's service account can read the vault.",
        _node_identity,
        subject_type=SECRET_MOUNT,
    ),
    Rule(
        "V15",
        "World-readable secret file in a CSI mount",
        Severity.LOW,
        ("3.6.1",),
        SOURCE_PROVIDER,
        "Set filePermission: 0440 (the provider's default is 0644).",
        _world_readable,
        subject_type=SECRET_MOUNT,
    ),
    Rule(
        "V16",
        "Cryptoperiod exceeded",
        Severity.HIGH,
        ("3.7.4",),
        SOURCE_57,
        "Rotate the object and set a rotation policy within the defined cryptoperiod.",
        _cryptoperiod,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V17",
        "Mounted certificate does not match the vault's thumbprint (x5t)",
        Severity.MEDIUM,
        ("3.7.5", "4.2.1.1"),
        "Key Vault certificate x5t; reference 1.4/1.8",
        "Re-mount (new pod or rotation) so the file matches the vault version.",
        _thumbprint,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V18",
        "Mounted certificate expired or expiring",
        Severity.HIGH,
        ("4.2.1", "4.2.1.1"),
        "PCI DSS v4.0.1 4.2.1 (certificates valid and not expired)",
        "Renew the certificate in Key Vault and let rotation mount it.",
        _mounted_certificate_validity,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V19",
        "Key not HSM-backed",
        Severity.INFO,
        ("3.6.1",),
        "AKS PCI DSS guidance (FIPS 140-2 Level 3 key storage)",
        "Use RSA-HSM/EC-HSM keys (Key Vault Premium) or Managed HSM for keys protecting account data.",
        _not_hsm,
        subject_type=VAULT_OBJECT,
    ),
    Rule(
        "V20",
        "Key Vault metadata unavailable for a mounted object",
        Severity.INFO,
        ("3.7.4",),
        "cryptoscope: evidence gap",
        "Grant the agent's identity the Key Vault Reader role on the vault.",
        _vault_unreadable,
        subject_type=SECRET_OBJECT,
    ),
    Rule(
        "V21",
        "SecretProviderClass is invalid",
        Severity.LOW,
        ("3.6.1",),
        SOURCE_PROVIDER,
        "Fix the SecretProviderClass parameters (see the message).",
        _spc_problems,
        subject_type=SECRET_MOUNT,
    ),
)

for _rule in _RULES:
    register(_rule)
