"""The demo's Key Vault objects: their versions in the loopback vault, and the files the kubelet mounts.

For every :class:`~inspector.demo.cluster.VaultObject` a pod mounts, this module
decides the versions the vault holds (so that the mounted one is current,
stale, expired or without expiry, as the cluster table says), puts them in the
loopback Key Vault, and writes the mounted files in the kubelet's
atomic-writer layout. Secret values are fictional random text; the agent is
expected never to read or store them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Iterator
from pathlib import Path

from inspector.demo.cluster import WORKLOADS, VaultObject, VaultState, Workload
from inspector.demo.manifests import pod_uid
from inspector.lab import csi_tree, pki
from inspector.lab.keyvault import FakeKeyVault, FakeVersion, certificate_policy, rotate_policy

DAY = dt.timedelta(days=1)


@dataclasses.dataclass(frozen=True, slots=True)
class PlannedObject:
    workload: Workload
    volume: str
    spec: VaultObject
    versions: tuple[FakeVersion, ...]  # oldest first
    mounted: FakeVersion

    @property
    def mounted_is_latest(self) -> bool:
        return self.mounted is self.versions[-1]


def _version(created_days_ago: int, expires_in_days: int | None, **content: object) -> FakeVersion:
    now = dt.datetime.now(dt.UTC)
    return FakeVersion(
        created=now - created_days_ago * DAY,
        expires=None if expires_in_days is None else now + expires_in_days * DAY,
        **content,  # type: ignore[arg-type]
    )


def _content(spec: VaultObject, ca: pki.Issued, item: Workload) -> dict[str, object]:
    if spec.content in ("cert-with-key", "cert"):
        leaf = pki.make_leaf(
            ca, common_name=item.dns_name, dns_names=(item.dns_name,), ip_addresses=(), days=365
        )
        return {"certificate": leaf, "content_type": "application/x-pem-file"}
    if spec.content == "public-key":
        return {"key": pki.generate_key("rsa", 2048)}
    return {"value": "demo-not-a-real-secret-" + secrets.token_hex(12)}


def _versions(
    spec: VaultObject, ca: pki.Issued, item: Workload
) -> tuple[tuple[FakeVersion, ...], int]:
    """The versions (oldest first) and the index of the mounted one."""
    if spec.state is VaultState.STALE:
        old = _version(420, 300, **_content(spec, ca, item))
        new = _version(20, 345, **_content(spec, ca, item))
        return (old, new), 0
    if spec.state is VaultState.EXPIRED:
        old = _version(760, -395, **_content(spec, ca, item))
        latest = _version(400, -3, **_content(spec, ca, item))
        return (old, latest), 1
    if spec.state is VaultState.NO_EXPIRY:
        return (_version(45, None, **_content(spec, ca, item)),), 0
    old = _version(200, 165, **_content(spec, ca, item))
    latest = _version(30, 335, **_content(spec, ca, item))
    return (old, latest), 1


def plan(ca: pki.Issued, workloads: tuple[Workload, ...] = WORKLOADS) -> list[PlannedObject]:
    planned: list[PlannedObject] = []
    for item in workloads:
        for mount in item.mounts:
            for spec in mount.objects:
                versions, mounted = _versions(spec, ca, item)
                planned.append(PlannedObject(item, mount.volume, spec, versions, versions[mounted]))
    return planned


def fill_vault(vault: FakeKeyVault, planned: list[PlannedObject]) -> None:
    for obj in planned:
        versions = list(obj.versions)
        if obj.spec.content in ("cert-with-key", "cert"):
            # The demo's leaves are P-256 keys (inspector.lab.pki's default); the policy says so.
            vault.add_certificate(
                obj.spec.name, versions, policy=certificate_policy(key_type="EC", key_size=256)
            )
        elif obj.spec.object_type == "key":
            # The expired signing key has no rotation policy (a finding); others rotate every 90 days.
            policy = None if obj.spec.state is VaultState.EXPIRED else rotate_policy()
            vault.add_key(obj.spec.name, versions, key_type="RSA", rotation_policy=policy)
        else:
            vault.add_secret(obj.spec.name, versions)


def _file_bytes(obj: PlannedObject) -> bytes:
    mounted = obj.mounted
    if obj.spec.content == "cert-with-key":
        assert mounted.certificate is not None
        return csi_tree.pem_secret_with_key(mounted.certificate)
    if obj.spec.content == "cert":
        assert mounted.certificate is not None
        return csi_tree.cert_object(mounted.certificate)
    if obj.spec.content == "public-key":
        return csi_tree.key_object(mounted.key)
    return mounted.value.encode()


def _by_mount(planned: list[PlannedObject]) -> Iterator[tuple[Workload, str, list[PlannedObject]]]:
    seen: dict[tuple[str, str, str], list[PlannedObject]] = {}
    for obj in planned:
        seen.setdefault((obj.workload.namespace, obj.workload.name, obj.volume), []).append(obj)
    for group in seen.values():
        yield group[0].workload, group[0].volume, group


def write_mounts(kubelet_pods_dir: Path, planned: list[PlannedObject]) -> list[Path]:
    """Every CSI volume under ``<kubelet_pods_dir>/<pod-uid>/volumes/kubernetes.io~csi/<volume>/mount``."""
    written: list[Path] = []
    for item, volume, objects in _by_mount(planned):
        files: dict[str, csi_tree.FileSpec] = {
            obj.spec.alias or obj.spec.name: (_file_bytes(obj), int(obj.spec.file_permission, 8))
            for obj in objects
        }
        written.append(csi_tree.write_kubelet_mount(kubelet_pods_dir, pod_uid(item), volume, files))
    return written


def mounted_versions(planned: list[PlannedObject]) -> dict[str, str]:
    return {obj.spec.name: obj.mounted.version for obj in planned}


def pinned_versions(planned: list[PlannedObject]) -> dict[str, str]:
    """Objects whose SecretProviderClass pins a version (``objectVersion``): the stale ones."""
    return {obj.spec.name: obj.mounted.version for obj in planned if not obj.mounted_is_latest}
