"""Each Key Vault / CSI rule on hand-made facts: it fires on the bad case, stays quiet on the good one."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from agent.rules import RULES, evaluate
from agent.secrets.compare import compare
from agent.secrets.model import (
    ContentKind,
    FileFacts,
    IdentityMode,
    KeyFacts,
    MountSnapshot,
    ObjectType,
    RotationPolicyFacts,
    VaultError,
    VaultObjectFacts,
    VersionFacts,
)
from agent.secrets.spc import Identity, KeyVaultObjectSpec, SecretProviderClass
from agent.secrets.subjects import (
    SECRET_MOUNT,
    SECRET_OBJECT,
    VAULT_OBJECT,
    MountSubject,
    ObjectSubject,
    VaultSubject,
)
from agent.tls.certificates import certificate_info
from inspector.lab import pki

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ALLOWED_REQUIREMENTS = {"3.6.1", "3.7.4", "3.7.5", "4.2.1", "4.2.1.1"}


def _ids(subject: object, subject_type: str) -> set[str]:
    return {finding.rule_id for finding in evaluate(subject, "k", subject_type=subject_type)}


def _file(path: str, kind: ContentKind, mode: int = 0o440, **extra: object) -> FileFacts:
    return FileFacts(path=path, kind=kind, mode=mode, size=10, keyed_hash="h", **extra)  # type: ignore[arg-type]


def _mount(
    *files: FileFacts,
    identity: IdentityMode = IdentityMode.WORKLOAD_IDENTITY,
    spc: SecretProviderClass | None = None,
    synced: tuple[str, ...] = (),
) -> MountSubject:
    return MountSubject(
        "ns/p/v",
        "ns",
        "p",
        "v",
        spc,
        Identity(identity),
        MountSnapshot("/m", True, files=files),
        NOW,
        synced,
    )


def test_every_secrets_rule_maps_to_the_reference_requirements() -> None:
    secrets_rules = [
        rule
        for rule in RULES.values()
        if rule.subject_type in (SECRET_MOUNT, SECRET_OBJECT, VAULT_OBJECT)
    ]
    assert len(secrets_rules) >= 18
    for rule in secrets_rules:
        assert set(rule.requirements) <= ALLOWED_REQUIREMENTS, rule.id
        assert rule.remediation and rule.source


def test_mount_rules() -> None:
    private = _file("tls", ContentKind.CERTIFICATE_WITH_KEY, 0o640)
    assert _ids(_mount(private), SECRET_MOUNT) == {"V9"}
    assert (
        _ids(_mount(_file("tls", ContentKind.CERTIFICATE_WITH_KEY, 0o440)), SECRET_MOUNT) == set()
    )
    assert _ids(_mount(_file("pw", ContentKind.OPAQUE, 0o644)), SECRET_MOUNT) == {"V15"}
    assert (
        _ids(_mount(_file("ca", ContentKind.CERTIFICATE, 0o644)), SECRET_MOUNT) == set()
    )  # public material
    assert _ids(_mount(identity=IdentityMode.SERVICE_PRINCIPAL), SECRET_MOUNT) == {"V7"}
    assert _ids(_mount(identity=IdentityMode.POD_IDENTITY), SECRET_MOUNT) == {"V13"}
    assert _ids(_mount(identity=IdentityMode.VM_MANAGED_IDENTITY), SECRET_MOUNT) == {"V14"}
    assert _ids(_mount(synced=("ns/tls (kubernetes.io/tls)",)), SECRET_MOUNT) == {"V8"}
    broken = SecretProviderClass("ns", "kv", "azure", problems=("objects[0] has no objectName",))
    assert _ids(_mount(spc=broken), SECRET_MOUNT) == {"V21"}


def _versions(*items: VersionFacts) -> VaultObjectFacts:
    return VaultObjectFacts(
        "kv", "https://kv.vault.azure.net", ObjectType.SECRET, "s", versions=items
    )


def _object(
    facts: VaultObjectFacts | None,
    mounted: str | None,
    *files: FileFacts,
    pinned: str = "",
    leaf_sha1: str | None = None,
) -> ObjectSubject:
    spec = KeyVaultObjectSpec(
        "s", facts.object_type if facts else ObjectType.SECRET, object_version=pinned
    )
    comparison = (
        compare(facts, mounted, pinned=spec.pinned, mounted_leaf_sha1=leaf_sha1, now=NOW)
        if facts is not None and facts.error is None
        else None
    )
    return ObjectSubject("ns/p/v/secret/s", spec, files, facts, comparison, NOW)


def test_object_rules_against_the_vault() -> None:
    good = VersionFacts(
        "v2", True, created_on=NOW - dt.timedelta(days=10), expires_on=NOW + dt.timedelta(days=80)
    )
    old = VersionFacts(
        "v1", True, created_on=NOW - dt.timedelta(days=400), expires_on=NOW + dt.timedelta(days=5)
    )
    assert _ids(_object(_versions(good, old), "v2"), SECRET_OBJECT) == set()
    assert _ids(_object(_versions(good, old), "v1"), SECRET_OBJECT) == {"V4", "V16"}
    assert _ids(_object(_versions(good, old), "v1", pinned="v1"), SECRET_OBJECT) == {"V5", "V16"}
    disabled = dataclasses.replace(good, enabled=False)
    assert _ids(_object(_versions(disabled), "v2"), SECRET_OBJECT) == {"V3"}
    expired = dataclasses.replace(good, expires_on=NOW - dt.timedelta(days=1))
    assert _ids(_object(_versions(expired), "v2"), SECRET_OBJECT) == {"V3"}
    forever = dataclasses.replace(good, expires_on=None)
    assert _ids(_object(_versions(forever), "v2"), SECRET_OBJECT) == {"V2"}
    forbidden = dataclasses.replace(_versions(), error=VaultError("forbidden", "no", 403))
    assert _ids(_object(forbidden, "v2"), SECRET_OBJECT) == {"V20"}
    throttled = dataclasses.replace(_versions(), error=VaultError("throttled", "slow down", 429, 7))
    assert (
        _ids(_object(throttled, "v2"), SECRET_OBJECT) == set()
    )  # transient: an error, not a finding


@pytest.fixture(scope="module")
def certs() -> dict[str, pki.Issued]:
    ca = pki.make_ca()
    return {
        "ok": pki.make_leaf(ca),
        "expired": pki.make_leaf(
            ca, not_before=NOW - dt.timedelta(days=100), not_after=NOW - dt.timedelta(days=1)
        ),
        "soon": pki.make_leaf(
            ca, not_before=NOW - dt.timedelta(days=100), not_after=NOW + dt.timedelta(days=10)
        ),
        "weak": pki.make_leaf(ca, key_kind="rsa", key_bits=1024),
    }


def test_certificate_and_key_rules_on_files(certs: dict[str, pki.Issued]) -> None:
    def cert_file(name: str) -> FileFacts:
        return _file(
            "tls",
            ContentKind.CERTIFICATE,
            certificates=(certificate_info(certs[name].certificate),),
        )

    assert _ids(_object(None, None, cert_file("ok")), SECRET_OBJECT) == set()
    assert _ids(_object(None, None, cert_file("expired")), SECRET_OBJECT) == {"V18"}
    soon = evaluate(_object(None, None, cert_file("soon")), "k", subject_type=SECRET_OBJECT)
    assert [(f.rule_id, str(f.severity)) for f in soon] == [
        ("V18", "high")
    ]  # < 14 days: critical window
    assert "V11" in _ids(_object(None, None, cert_file("weak")), SECRET_OBJECT)
    weak_key = _file(
        "k", ContentKind.PRIVATE_KEY, private_keys=(KeyFacts("RSA", 1024, spki_sha256="ab"),)
    )
    assert _ids(_object(None, None, weak_key), SECRET_OBJECT) == {"V11"}


def test_thumbprint_mismatch(certs: dict[str, pki.Issued]) -> None:
    mounted = certificate_info(certs["ok"].certificate)
    vault_version = VersionFacts(
        "v1",
        True,
        created_on=NOW - dt.timedelta(days=1),
        expires_on=NOW + dt.timedelta(days=60),
        x509_thumbprint="00" * 20,
    )
    facts = dataclasses.replace(_versions(vault_version), object_type=ObjectType.CERT)
    assert _ids(_object(facts, "v1", leaf_sha1=mounted.sha1), SECRET_OBJECT) == {"V17"}
    matching = dataclasses.replace(
        facts, versions=(dataclasses.replace(vault_version, x509_thumbprint=mounted.sha1),)
    )
    assert _ids(_object(matching, "v1", leaf_sha1=mounted.sha1), SECRET_OBJECT) == set()


def _vault(
    object_type: ObjectType,
    policy: RotationPolicyFacts | None,
    *,
    key_type: str = "RSA-HSM",
    bits: int = 3072,
    recovery: str = "Recoverable",
    url: str = "https://kv.vault.azure.net",
) -> VaultSubject:
    latest = VersionFacts(
        "v", True, created_on=NOW, key_type=key_type, key_bits=bits, recovery_level=recovery
    )
    facts = VaultObjectFacts(
        "kv",
        url,
        object_type,
        "k",
        versions=(latest,),
        rotation_policy=policy,
        hsm_backed=key_type.endswith("-HSM") or ".managedhsm." in url,
    )
    return VaultSubject("keyvault:kv/key/k", facts, 365, NOW)


def test_vault_object_rules() -> None:
    rotating = RotationPolicyFacts(rotates=True, time_after_create="P90D", expires_in="P180D")
    assert _ids(_vault(ObjectType.KEY, rotating), VAULT_OBJECT) == set()
    assert _ids(_vault(ObjectType.KEY, None), VAULT_OBJECT) == {"V1"}
    assert _ids(
        _vault(ObjectType.KEY, RotationPolicyFacts(rotates=False, actions=("Notify",))),
        VAULT_OBJECT,
    ) == {"V1"}
    too_long = RotationPolicyFacts(rotates=True, time_after_create="P2Y", expires_in="P3Y")
    long_findings = evaluate(_vault(ObjectType.KEY, too_long), "k", subject_type=VAULT_OBJECT)
    assert sorted(f.detail_key for f in long_findings) == ["expires-in", "rotate-after"]
    assert _ids(_vault(ObjectType.KEY, rotating, key_type="RSA", bits=1024), VAULT_OBJECT) == {
        "V11K",
        "V19",
    }
    assert (
        _ids(
            _vault(
                ObjectType.KEY,
                rotating,
                key_type="EC",
                bits=256,
                url="https://pool.managedhsm.azure.net",
            ),
            VAULT_OBJECT,
        )
        == set()
    )
    assert _ids(_vault(ObjectType.KEY, rotating, recovery="Purgeable"), VAULT_OBJECT) == {"V10"}
    assert _ids(_vault(ObjectType.SECRET, None, key_type="", bits=0), VAULT_OBJECT) == set()


def test_a_new_version_inside_the_grace_period_is_rotation_pending_not_stale() -> None:
    from agent.secrets.compare import iso_duration_days

    fresh = VersionFacts(
        "v2", True, created_on=NOW - dt.timedelta(minutes=3), expires_on=NOW + dt.timedelta(days=80)
    )
    mounted = VersionFacts(
        "v1", True, created_on=NOW - dt.timedelta(days=30), expires_on=NOW + dt.timedelta(days=60)
    )
    pending = compare(_versions(fresh, mounted), "v1", now=NOW)
    assert pending.is_latest is False and not pending.stale
    assert _ids(_object(_versions(fresh, mounted), "v1"), SECRET_OBJECT) == set()
    assert compare(_versions(fresh, mounted), "v1", now=NOW + dt.timedelta(minutes=30)).stale
    assert [
        iso_duration_days(text)
        for text in ("P90D", "P1Y", "P2M", "P1Y6M", "P2W", "PT12H", "", "90D")
    ] == [
        90,
        365,
        60,
        545,
        14,
        0,
        None,
        None,
    ]
