"""The per-cycle secrets inspection: Kubernetes → mounts on disk → Key Vault → findings.

    inspector = SecretsInspector(settings, core_api=CoreV1Api(client), custom_api=CustomObjectsApi(client),
                                 vault_reader=VaultReader(default_credential(), vault_settings))
    result = inspector.inspect()          # never raises for a bad mount, API error or vault outage
    record_secrets(store, run_id, result) # agent.secrets.records

DaemonSet mode: pods with ``spec.nodeName`` = this node, SPCPS labelled with this
node, mounts under the kubelet pods directory. Sidecar mode: this pod only, its CSI
volumes at the paths this container mounts them. Cluster mode: every pod (mounts are
read only where they are visible). Without Kubernetes access the mounts on disk are
still read (files and modes, no SPC context).

Key Vault reads run in a small thread pool under a deadline; an unreachable,
throttled or forbidden vault becomes a recorded error and never delays the rest.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from agent.rules.model import Finding, RuleSettings
from agent.rules.registry import evaluate
from agent.secrets.compare import CompareSettings, ObjectComparison, compare
from agent.secrets.files import KeyedHasher
from agent.secrets.keyvault import VaultReader
from agent.secrets.model import (
    FileFacts,
    MountSnapshot,
    ObjectType,
    VaultError,
    VaultObjectFacts,
)
from agent.secrets.mounts import (
    find_csi_mounts,
    host_path_under_root,
    kubelet_mount_path,
    read_mount,
)
from agent.secrets.spc import (
    GROUP,
    NODE_NAME_LABEL,
    SPC_PLURAL,
    SPCPS_PLURAL,
    VERSION,
    CsiVolume,
    Identity,
    KeyVaultObjectSpec,
    PodStatus,
    SecretProviderClass,
    csi_volumes_of_pod,
    parse_pod_status,
    parse_secret_provider_class,
    resolve_identity,
)
from agent.secrets.subjects import (
    SECRET_MOUNT,
    SECRET_OBJECT,
    VAULT_OBJECT,
    MountSubject,
    ObjectSubject,
    VaultSubject,
    mount_key,
    object_key,
    vault_object_key,
)
from agent.tls.model import CertificateInfo

log = logging.getLogger(__name__)

#: Where kubelet keeps pods on the node (SPCPS targetPath starts with it).
NODE_KUBELET_PODS_DIR = "/var/lib/kubelet/pods"


@dataclasses.dataclass(frozen=True, slots=True)
class SecretsSettings:
    mode: str = "daemonset"  # daemonset | sidecar | cluster
    node_name: str = ""
    pod_name: str = ""
    pod_namespace: str = ""
    #: The kubelet pods directory as the agent sees it (hostPath mounted read-only).
    kubelet_pods_dir: Path = Path(NODE_KUBELET_PODS_DIR)
    #: Sidecar mode: volume name → path where this container mounts it (else taken from the pod spec).
    sidecar_mount_paths: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Container whose mountPath is used in sidecar mode when not configured.
    sidecar_container: str = "cryptoscope"
    keyvault_enabled: bool = True
    #: Seconds all Key Vault reads of one cycle may take together.
    vault_deadline_s: float = 60.0
    vault_workers: int = 4
    compare: CompareSettings = dataclasses.field(default_factory=CompareSettings)
    profile: str = "pci"
    rule_settings: RuleSettings = dataclasses.field(default_factory=RuleSettings)


@dataclasses.dataclass(frozen=True, slots=True)
class ObjectRecord:
    """One Key Vault object as mounted in one volume."""

    subject_key: str
    spec: KeyVaultObjectSpec
    #: SPCPS versions: (index, version) — index is None without version history.
    mounted_versions: tuple[tuple[int | None, str], ...]
    files: tuple[FileFacts, ...]
    vault: VaultObjectFacts | None
    comparison: ObjectComparison | None
    #: Kubernetes Secrets (``ns/name (type)``) this object is synced into.
    synced_to: tuple[str, ...] = ()

    @property
    def mounted_version(self) -> str | None:
        for index, version in self.mounted_versions:
            if index in (None, 0):
                return version
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class MountRecord:
    """One pod's CSI volume: its SPC, identity, SPCPS, files and objects."""

    subject_key: str
    namespace: str
    pod_name: str
    pod_uid: str
    node_name: str
    volume_name: str
    spc: SecretProviderClass | None
    identity: Identity
    status: PodStatus | None
    snapshot: MountSnapshot
    objects: tuple[ObjectRecord, ...] = ()
    #: Files that belong to no declared object (or all files when the SPC is unknown).
    unmatched_files: tuple[FileFacts, ...] = ()
    service_account: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class SecretsCycleResult:
    started_at: dt.datetime
    mounts: tuple[MountRecord, ...] = ()
    vault_objects: tuple[VaultObjectFacts, ...] = ()
    findings: tuple[Finding, ...] = ()
    #: One line each (stage: message); never content.
    errors: tuple[str, ...] = ()

    @property
    def covered_subject_keys(self) -> tuple[str, ...]:
        """Subjects this cycle looked at (findings on them not seen again are resolved).

        A mounted object whose vault metadata could not be read (403, 429, outage) is not
        covered: missing evidence must not resolve its earlier findings.
        """
        keys: list[str] = []
        for mount in self.mounts:
            if mount.snapshot.exists:
                keys.append(mount.subject_key)
            keys.extend(
                item.subject_key
                for item in mount.objects
                if mount.snapshot.exists and (item.vault is None or item.vault.error is None)
            )
        for facts in self.vault_objects:
            if facts.error is None:
                keys.append(
                    vault_object_key(facts.vault_name, facts.object_type.value, facts.object_name)
                )
        return tuple(keys)


def _sanitize(api: Any, obj: Any) -> dict[str, Any]:
    """A client model object as the plain JSON dict the API sent (camelCase keys)."""
    if isinstance(obj, dict):
        return obj
    return dict(api.api_client.sanitize_for_serialization(obj))


def _api_error(stage: str, exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None) or type(exc).__name__
    return f"{stage}: {status or ''} {reason}".replace("  ", " ").strip()


def _current_leaf(files: Iterable[FileFacts]) -> CertificateInfo | None:
    """The leaf of the current version's file (``alias`` or ``alias/0`` with version history)."""
    for facts in files:
        if facts.leaf is not None and ("/" not in facts.path or facts.path.endswith("/0")):
            return facts.leaf
    return None


class SecretsInspector:
    """Reads every covered CSI mount and compares it with Key Vault; one call per agent cycle."""

    def __init__(
        self,
        settings: SecretsSettings,
        *,
        core_api: Any | None = None,
        custom_api: Any | None = None,
        vault_reader: VaultReader | None = None,
        hasher: KeyedHasher | None = None,
        pods: Iterable[Mapping[str, Any]] | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """`pods`: the pods discovery already listed this cycle (plain JSON); else they are listed here."""
        self.settings = settings
        self.pods = tuple(pods) if pods is not None else None
        self.core_api = core_api
        self.custom_api = custom_api
        self.vault_reader = vault_reader
        self.hasher = hasher or KeyedHasher.ephemeral()
        self.clock = clock

    # ------------------------------------------------------------------ Kubernetes

    def _pods(self, errors: list[str]) -> list[dict[str, Any]] | None:
        if self.pods is not None:
            return [dict(pod) for pod in self.pods]
        if self.core_api is None:
            return None
        settings = self.settings
        try:
            if settings.mode == "sidecar":
                pod = self.core_api.read_namespaced_pod(settings.pod_name, settings.pod_namespace)
                return [_sanitize(self.core_api, pod)]
            if settings.mode == "daemonset":
                listing = self.core_api.list_pod_for_all_namespaces(
                    field_selector=f"spec.nodeName={settings.node_name}"
                )
            else:
                listing = self.core_api.list_pod_for_all_namespaces()
            return [_sanitize(self.core_api, pod) for pod in listing.items]
        except Exception as exc:  # noqa: BLE001 - API errors are recorded; the disk is still read
            errors.append(_api_error("kubernetes pods", exc))
            return None

    def _custom(
        self, plural: str, errors: list[str], namespaces: Iterable[str], label_selector: str = ""
    ) -> list[dict[str, Any]]:
        if self.custom_api is None:
            return []
        items: list[dict[str, Any]] = []
        try:
            if self.settings.mode == "sidecar":
                for namespace in sorted(set(namespaces)):
                    result = self.custom_api.list_namespaced_custom_object(
                        GROUP, VERSION, namespace, plural, label_selector=label_selector
                    )
                    items.extend(result.get("items") or [])
            else:
                result = self.custom_api.list_cluster_custom_object(
                    GROUP, VERSION, plural, label_selector=label_selector
                )
                items.extend(result.get("items") or [])
        except Exception as exc:  # noqa: BLE001 - API errors are recorded; mounts are read without SPC context
            errors.append(_api_error(f"kubernetes {plural}", exc))
        return items

    # ------------------------------------------------------------------ the cycle

    def _mount_path(self, volume: CsiVolume, status: PodStatus | None) -> Path:
        settings = self.settings
        if settings.mode == "sidecar":
            configured = settings.sidecar_mount_paths.get(volume.volume_name)
            if configured:
                return Path(configured)
            for container, path in volume.mount_paths:
                if container == settings.sidecar_container:
                    return Path(path)
            for _container, path in volume.mount_paths:  # the path this container can see
                if Path(path).is_dir():
                    return Path(path)
            if volume.mount_paths:
                return Path(volume.mount_paths[0][1])
        if status is not None and status.target_path:
            return host_path_under_root(
                status.target_path, settings.kubelet_pods_dir, NODE_KUBELET_PODS_DIR
            )
        return kubelet_mount_path(settings.kubelet_pods_dir, volume.pod_uid, volume.volume_name)

    def inspect(self) -> SecretsCycleResult:
        started = self.clock()
        errors: list[str] = []
        pods = self._pods(errors)
        volumes: list[CsiVolume] = []
        if pods is not None:
            for pod in pods:
                volumes.extend(csi_volumes_of_pod(pod))
        namespaces = {volume.namespace for volume in volumes}
        spcs: dict[tuple[str, str], SecretProviderClass] = {}
        statuses: dict[tuple[str, str, str], PodStatus] = {}
        if volumes:
            for obj in self._custom(SPC_PLURAL, errors, namespaces):
                spc = parse_secret_provider_class(obj)
                spcs[(spc.namespace, spc.name)] = spc
            selector = (
                f"{NODE_NAME_LABEL}={self.settings.node_name}"
                if self.settings.mode == "daemonset"
                else ""
            )
            for obj in self._custom(SPCPS_PLURAL, errors, namespaces, selector):
                status = parse_pod_status(obj)
                statuses[(status.namespace, status.pod_name, status.spc_name)] = status
        if pods is None and self.settings.mode != "sidecar":
            volumes = [
                CsiVolume(
                    namespace="",
                    pod_name="",
                    pod_uid=location.pod_uid,
                    node_name=self.settings.node_name,
                    volume_name=location.volume,
                    spc_name="",
                )
                for location in find_csi_mounts(self.settings.kubelet_pods_dir)
            ]
        pending: list[
            tuple[CsiVolume, SecretProviderClass | None, PodStatus | None, MountSnapshot]
        ] = []
        for volume in volumes:
            found_spc = spcs.get((volume.namespace, volume.spc_name))
            found_status = statuses.get((volume.namespace, volume.pod_name, volume.spc_name))
            mount_path = self._mount_path(volume, found_status)
            try:
                snapshot = read_mount(mount_path, self.hasher)
            except Exception as exc:  # noqa: BLE001 - one broken mount never stops the others
                snapshot = MountSnapshot(
                    path=str(mount_path),
                    exists=False,
                    error=f"cannot read mount: {type(exc).__name__}",
                )
            if found_spc is None and volume.spc_name:
                errors.append(
                    f"secrets: {volume.namespace}/{volume.spc_name}: SecretProviderClass not found"
                )
            pending.append((volume, found_spc, found_status, snapshot))
        vault_facts = self._read_vaults(pending, errors)
        mounts = tuple(
            self._mount_record(volume, spc, status, snapshot, vault_facts)
            for volume, spc, status, snapshot in pending
        )
        findings = self._findings(mounts, vault_facts.values(), started)
        return SecretsCycleResult(
            started_at=started,
            mounts=mounts,
            vault_objects=tuple(vault_facts.values()),
            findings=tuple(findings),
            errors=tuple(errors),
        )

    # ------------------------------------------------------------------ Key Vault

    def _wanted_vault_objects(
        self,
        pending: Iterable[
            tuple[CsiVolume, SecretProviderClass | None, PodStatus | None, MountSnapshot]
        ],
    ) -> tuple[dict[tuple[str, ObjectType, str], str], set[tuple[str, ObjectType, str]]]:
        """(vault object → cloud name, the certificate look-ups made only for x5t)."""
        wanted: dict[tuple[str, ObjectType, str], str] = {}
        extras: set[tuple[str, ObjectType, str]] = set()
        for _volume, spc, _status, snapshot in pending:
            if spc is None or spc.provider.lower() != "azure" or not spc.keyvault_name:
                continue
            for spec in spc.objects:
                wanted[(spc.keyvault_name, spec.object_type, spec.object_name)] = spc.cloud_name
                extras.discard((spc.keyvault_name, spec.object_type, spec.object_name))
                if spec.object_type is ObjectType.SECRET and any(
                    spc.object_for_file(facts.path) is spec and facts.certificates
                    for facts in snapshot.files
                ):
                    # a certificate-backed secret: the certificate of the same name carries x5t
                    extra = (spc.keyvault_name, ObjectType.CERT, spec.object_name)
                    if extra not in wanted:
                        extras.add(extra)
                        wanted[extra] = spc.cloud_name
        return wanted, extras

    def _read_vaults(
        self,
        pending: list[
            tuple[CsiVolume, SecretProviderClass | None, PodStatus | None, MountSnapshot]
        ],
        errors: list[str],
    ) -> dict[tuple[str, ObjectType, str], VaultObjectFacts]:
        reader = self.vault_reader
        if reader is None or not self.settings.keyvault_enabled:
            return {}
        wanted, extras = self._wanted_vault_objects(pending)
        results: dict[tuple[str, ObjectType, str], VaultObjectFacts] = {}
        if not wanted:
            return results
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.settings.vault_workers, thread_name_prefix="keyvault"
        )
        futures = {
            executor.submit(reader.read, vault, object_type, name, cloud): (
                vault,
                object_type,
                name,
            )
            for (vault, object_type, name), cloud in wanted.items()
        }
        done, not_done = concurrent.futures.wait(futures, timeout=self.settings.vault_deadline_s)
        executor.shutdown(wait=False, cancel_futures=True)
        for future in done:
            key = futures[future]
            try:
                results[key] = future.result()
            except Exception as exc:  # noqa: BLE001 - VaultReader records errors; belt and braces
                results[key] = VaultObjectFacts(
                    key[0], "", key[1], key[2], error=VaultError("error", type(exc).__name__)
                )
        for future in not_done:
            vault, object_type, name = futures[future]
            results[(vault, object_type, name)] = VaultObjectFacts(
                vault,
                "",
                object_type,
                name,
                error=VaultError(
                    "unreachable",
                    f"no answer within the {self.settings.vault_deadline_s:.0f} s vault deadline",
                ),
            )
        for (
            key
        ) in extras:  # a secret that merely contains a PEM is not certificate-backed: no record
            facts = results.get(key)
            if facts is not None and facts.error is not None and facts.error.kind == "not-found":
                del results[key]
        unreachable = sorted(
            {
                key[0]
                for key, facts in results.items()
                if facts.error and facts.error.kind == "unreachable"
            }
        )
        for vault in unreachable:
            errors.append(f"keyvault {vault}: unreachable")
        return results

    # ------------------------------------------------------------------ assembling

    def _mount_record(
        self,
        volume: CsiVolume,
        spc: SecretProviderClass | None,
        status: PodStatus | None,
        snapshot: MountSnapshot,
        vault_facts: Mapping[tuple[str, ObjectType, str], VaultObjectFacts],
    ) -> MountRecord:
        key = mount_key(volume.namespace, volume.pod_name or volume.pod_uid, volume.volume_name)
        identity = resolve_identity(spc or SecretProviderClass("", "", ""), volume)
        objects: list[ObjectRecord] = []
        matched: set[str] = set()
        now = self.clock()
        if spc is not None:
            for spec in spc.objects:
                files = tuple(
                    facts for facts in snapshot.files if spc.object_for_file(facts.path) is spec
                )
                matched.update(facts.path for facts in files)
                versions = tuple(
                    (item.version_index, item.version)
                    for item in (status.objects if status else ())
                    if item.object_type == spec.object_type.value
                    and item.object_name == spec.object_name
                )
                vault = vault_facts.get((spc.keyvault_name, spec.object_type, spec.object_name))
                record = ObjectRecord(
                    subject_key=object_key(key, spec.object_type.value, spec.object_name),
                    spec=spec,
                    mounted_versions=versions,
                    files=files,
                    vault=vault,
                    comparison=None,
                    synced_to=tuple(
                        f"{spc.namespace}/{synced.secret_name} ({synced.secret_type})"
                        for synced in spc.secret_objects
                        if any(
                            object_name in (spec.object_name, spec.object_alias)
                            for object_name, _ in synced.data
                        )
                    ),
                )
                objects.append(
                    dataclasses.replace(
                        record, comparison=self._compare(record, spc, vault_facts, now)
                    )
                )
        return MountRecord(
            subject_key=key,
            namespace=volume.namespace,
            pod_name=volume.pod_name,
            pod_uid=volume.pod_uid,
            node_name=volume.node_name or (status.node_name if status else ""),
            volume_name=volume.volume_name,
            spc=spc,
            identity=identity,
            status=status,
            snapshot=snapshot,
            objects=tuple(objects),
            unmatched_files=tuple(facts for facts in snapshot.files if facts.path not in matched),
            service_account=volume.service_account,
        )

    def _compare(
        self,
        record: ObjectRecord,
        spc: SecretProviderClass,
        vault_facts: Mapping[tuple[str, ObjectType, str], VaultObjectFacts],
        now: dt.datetime,
    ) -> ObjectComparison | None:
        vault = record.vault
        if vault is None or vault.error is not None:
            return None
        leaf = _current_leaf(record.files)
        comparison = compare(
            vault,
            record.mounted_version,
            pinned=record.spec.pinned,
            mounted_leaf_sha1=leaf.sha1 if leaf else None,
            now=now,
            settings=self.settings.compare,
        )
        if record.spec.object_type is ObjectType.SECRET and leaf is not None:
            certificate = vault_facts.get(
                (spc.keyvault_name, ObjectType.CERT, record.spec.object_name)
            )
            if certificate is not None and certificate.error is None and record.mounted_version:
                same = certificate.version(record.mounted_version)
                if same is not None and same.x509_thumbprint:
                    comparison = dataclasses.replace(
                        comparison,
                        thumbprint_match=same.x509_thumbprint.lower() == leaf.sha1.lower(),
                    )
        return comparison

    def _findings(
        self,
        mounts: Iterable[MountRecord],
        vault_objects: Iterable[VaultObjectFacts],
        now: dt.datetime,
    ) -> list[Finding]:
        settings = self.settings
        findings: list[Finding] = []

        def judge(subject: object, key: str, subject_type: str) -> None:
            findings.extend(
                evaluate(
                    subject,
                    key,
                    subject_type=subject_type,
                    profile=settings.profile,
                    settings=settings.rule_settings,
                )
            )

        for mount in mounts:
            synced_keys = tuple(
                secret
                for item in mount.objects
                if any(facts.kind.holds_private_key for facts in item.files)
                for secret in item.synced_to
            )
            subject = MountSubject(
                subject_key=mount.subject_key,
                namespace=mount.namespace,
                pod=mount.pod_name,
                volume=mount.volume_name,
                spc=mount.spc,
                identity=mount.identity,
                snapshot=mount.snapshot,
                now=now,
                synced_private_keys=synced_keys,
            )
            judge(subject, mount.subject_key, SECRET_MOUNT)
            for item in mount.objects:
                object_subject = ObjectSubject(
                    item.subject_key, item.spec, item.files, item.vault, item.comparison, now
                )
                judge(object_subject, item.subject_key, SECRET_OBJECT)
        for facts in vault_objects:
            key = vault_object_key(facts.vault_name, facts.object_type.value, facts.object_name)
            vault_subject = VaultSubject(
                key, facts, settings.compare.cryptoperiod_for(facts.object_type), now
            )
            judge(vault_subject, key, VAULT_OBJECT)
        return findings


# ---------------------------------------------------------------------- the agent loop's entry point

#: Per-process state of the built-in inspector: Kubernetes client, vault reader, hash key.
_SHARED: dict[str, Any] = {}


def hash_key_path(settings: Any, database: Path) -> Path:
    """The keyed-hash key file: ``secrets_hash_key_file`` when set, else beside the database (mode 0600)."""
    configured = str(getattr(settings, "secrets_hash_key_file", "") or "")
    return Path(configured) if configured else database.with_name("secret-hash.key")


def secrets_settings(settings: Any, *, vault_deadline_s: float | None = None) -> SecretsSettings:
    """:class:`SecretsSettings` from the agent's settings (``agent.config``); absent names take defaults."""
    from agent.secrets.compare import parse_cryptoperiods

    periods = str(getattr(settings, "secrets_cryptoperiods", "") or "")
    deadline = float(getattr(settings, "keyvault_deadline", 60.0) or 60.0)
    if vault_deadline_s is not None:
        deadline = max(1.0, min(deadline, vault_deadline_s))
    return SecretsSettings(
        mode=settings.mode,
        node_name=settings.node_name,
        pod_name=settings.pod_name,
        pod_namespace=settings.pod_namespace,
        kubelet_pods_dir=Path(settings.kubelet_pods_dir),
        keyvault_enabled=bool(settings.keyvault_enabled),
        vault_deadline_s=deadline,
        compare=CompareSettings(cryptoperiod_days=parse_cryptoperiods(periods)),
        profile=settings.profile,
    )


def _vault_reader(settings: Any) -> VaultReader | None:
    if not settings.keyvault_enabled:
        return None
    if "vault_reader" not in _SHARED:
        from agent.secrets.keyvault import VaultSettings, default_credential, parse_vault_urls

        vault_settings = VaultSettings(
            url_overrides=parse_vault_urls(str(getattr(settings, "keyvault_urls", "") or "")),
            ca_file=str(getattr(settings, "keyvault_ca_file", "") or "") or None,
            verify_challenge_resource=bool(
                getattr(settings, "keyvault_verify_challenge_resource", True)
            ),
        )
        _SHARED["vault_reader"] = VaultReader(default_credential(), vault_settings)
    return _SHARED["vault_reader"]


def _custom_api(settings: Any) -> Any | None:
    if "custom_api" not in _SHARED:
        try:
            import kubernetes.client

            from agent.discovery import api_client

            _SHARED["custom_api"] = kubernetes.client.CustomObjectsApi(
                api_client(settings.kubeconfig, settings.context)
            )
        except Exception as exc:  # noqa: BLE001 - without the API the mounts are still read
            log.warning(
                "secrets: no Kubernetes client (%s); reading mounts without SPC context",
                type(exc).__name__,
            )
            _SHARED["custom_api"] = None
    return _SHARED["custom_api"]


def inspect(
    context: Any,
    *,
    vault_reader: VaultReader | None = None,
    custom_api: Any | None = None,
    hasher: KeyedHasher | None = None,
) -> tuple[str, ...]:
    """The agent loop's inspector (``agent.runner.INSPECTOR_MODULES``): inspect, record, return covered keys.

    ``context`` is an :class:`agent.runner.CycleContext`: the run, the store, the agent's
    settings and the pods discovery listed this cycle. Key Vault reads get what is left of
    the cycle's deadline (at most ``keyvault_deadline``). Embedders and tests pass their
    own ``vault_reader`` / ``custom_api`` / ``hasher`` (``functools.partial``); by default
    they are built once per process from the settings (``DefaultAzureCredential``).
    """
    import time

    from agent.secrets.records import record_secrets

    settings = context.settings
    pods = tuple(context.state.pods)
    if pods and not any(csi_volumes_of_pod(pod) for pod in pods):
        return ()  # no pod here mounts the Secrets Store CSI driver
    if hasher is None:
        key_file = hash_key_path(settings, Path(context.store.path))
        hasher = _SHARED.get(str(key_file)) or KeyedHasher.load_or_create(key_file)
        _SHARED[str(key_file)] = hasher
    remaining = context.deadline - time.monotonic()
    inspector = SecretsInspector(
        secrets_settings(settings, vault_deadline_s=remaining * 0.8),
        custom_api=custom_api
        if custom_api is not None
        else (_custom_api(settings) if pods else None),
        vault_reader=vault_reader if vault_reader is not None else _vault_reader(settings),
        hasher=hasher,
        pods=pods or None,  # none listed: read the disk without SPC context
    )
    result = inspector.inspect()
    return record_secrets(context.store, context.run_id, result)
