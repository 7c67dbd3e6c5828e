"""What the Key Vault / CSI rules look at: one mount, one mounted object, one vault object.

Each subject is a frozen bundle of facts plus ``now``; the rules in
:mod:`agent.rules.keyvault` read them and never do I/O.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from agent.secrets.compare import ObjectComparison
from agent.secrets.model import FileFacts, MountSnapshot, VaultObjectFacts
from agent.secrets.spc import Identity, KeyVaultObjectSpec, SecretProviderClass

#: ``subject_type`` values of the findings these subjects produce.
SECRET_MOUNT = "secret_mount"
SECRET_OBJECT = "secret_object"
VAULT_OBJECT = "vault_object"


def mount_key(namespace: str, pod: str, volume: str) -> str:
    """``payments/checkout-0/secrets-store`` (waiver patterns GLOB-match it)."""
    return f"{namespace or '-'}/{pod or '-'}/{volume or '-'}"


def object_key(mount: str, object_type: str, object_name: str) -> str:
    return f"{mount}/{object_type}/{object_name}"


def vault_object_key(vault_name: str, object_type: str, object_name: str) -> str:
    return f"keyvault:{vault_name}/{object_type}/{object_name}"


@dataclasses.dataclass(frozen=True, slots=True)
class MountSubject:
    subject_key: str
    namespace: str
    pod: str
    volume: str
    spc: SecretProviderClass | None
    identity: Identity
    snapshot: MountSnapshot
    now: datetime
    #: Secret names (with type) that private-key-holding objects are synced into.
    synced_private_keys: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectSubject:
    subject_key: str
    spec: KeyVaultObjectSpec
    files: tuple[FileFacts, ...]
    vault: VaultObjectFacts | None
    comparison: ObjectComparison | None
    now: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class VaultSubject:
    subject_key: str
    facts: VaultObjectFacts
    #: Cryptoperiod for this object's type, days (the configured one).
    cryptoperiod_days: int
    now: datetime
