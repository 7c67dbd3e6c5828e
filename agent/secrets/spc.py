"""SecretProviderClass, SecretProviderClassPodStatus and pods' CSI volumes, parsed from Kubernetes JSON.

Input is the plain JSON-shaped dict the API returns (``CustomObjectsApi`` gives
dicts; for pods use ``ApiClient().sanitize_for_serialization(pod)``). Field names
follow the Azure provider exactly (``keyvaultName``, ``tenantID``/``tenantId``,
``objects`` → ``array`` of YAML documents with ``objectName``, ``objectType``...).
Invalid entries never raise: they become ``problems`` with a reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from agent.secrets.model import IdentityMode, ObjectType

GROUP = "secrets-store.csi.x-k8s.io"
VERSION = "v1"
SPC_PLURAL = "secretproviderclasses"
SPCPS_PLURAL = "secretproviderclasspodstatuses"
CSI_DRIVER = "secrets-store.csi.k8s.io"
NODE_NAME_LABEL = "internal.secrets-store.csi.k8s.io/node-name"
#: Label the driver puts on Secrets it syncs from ``secretObjects``.
MANAGED_SECRET_LABEL = "secrets-store.csi.k8s.io/managed"
DEFAULT_FILE_PERMISSION = 0o644

_OBJECT_TYPES = {item.value: item for item in ObjectType}
_FORMATS = ("pem", "pfx")
_ENCODINGS = ("utf-8", "base64", "hex")


@dataclasses.dataclass(frozen=True, slots=True)
class KeyVaultObjectSpec:
    """One entry of the SPC's ``objects`` array."""

    object_name: str
    object_type: ObjectType
    object_version: str = ""  # "" or "latest" = latest
    object_version_history: int = 0
    object_alias: str = ""
    object_format: str = "pem"
    object_encoding: str = "utf-8"
    file_permission: int = DEFAULT_FILE_PERMISSION

    @property
    def pinned(self) -> bool:
        return self.object_version.lower() not in ("", "latest")

    @property
    def file_name(self) -> str:
        return self.object_alias or self.object_name

    @property
    def uid(self) -> str:
        """The SPCPS object id (without version index): ``<objectType>/<objectName>``."""
        return f"{self.object_type.value}/{self.object_name}"


@dataclasses.dataclass(frozen=True, slots=True)
class SyncedSecret:
    """One ``spec.secretObjects`` entry: a Kubernetes Secret the driver fills from mounted objects."""

    secret_name: str
    secret_type: str
    #: (objectName, key) pairs.
    data: tuple[tuple[str, str], ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class SecretProviderClass:
    namespace: str
    name: str
    provider: str
    keyvault_name: str = ""
    tenant_id: str = ""
    #: The deprecated ``tenantId`` spelling was used (``tenantID`` absent).
    tenant_id_deprecated_key: bool = False
    client_id: str = ""
    use_azure_token_proxy: bool = False
    use_pod_identity: bool = False
    use_vm_managed_identity: bool = False
    user_assigned_identity_id: str = ""
    cloud_name: str = ""
    objects: tuple[KeyVaultObjectSpec, ...] = ()
    secret_objects: tuple[SyncedSecret, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def object_for_file(self, relative_path: str) -> KeyVaultObjectSpec | None:
        """The object a mounted file came from: ``alias``, ``alias/<index>``, ``alias.crt``/``.key``."""
        top = relative_path.split("/", 1)[0]
        for spec in self.objects:
            name = spec.file_name
            if top == name or top in (f"{name}.crt", f"{name}.key"):
                return spec
        return None


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    """How a volume's objects are read from Key Vault."""

    mode: IdentityMode
    #: Client id (workload identity / user-assigned MI), or the SP Secret name, or "" (system-assigned).
    principal: str = ""
    #: Namespace/name of the Kubernetes Secret holding service-principal credentials.
    credential_secret: str = ""

    def describe(self) -> str:
        if self.mode is IdentityMode.SERVICE_PRINCIPAL:
            return f"service principal (credentials in Secret {self.credential_secret})"
        if self.mode is IdentityMode.VM_MANAGED_IDENTITY:
            return (
                f"node managed identity {self.principal}"
                if self.principal
                else "node system-assigned managed identity"
            )
        if self.principal:
            return f"{self.mode.value} {self.principal}"
        return self.mode.value


@dataclasses.dataclass(frozen=True, slots=True)
class MountedObjectVersion:
    """One ``status.objects`` entry of an SPCPS: ``secret/db`` or ``secret/db/1`` and its version."""

    id: str
    version: str

    @property
    def object_type(self) -> str:
        return self.id.split("/", 1)[0]

    @property
    def object_name(self) -> str:
        parts = self.id.split("/")
        return parts[1] if len(parts) > 1 else ""

    @property
    def version_index(self) -> int | None:
        parts = self.id.split("/")
        return int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None


@dataclasses.dataclass(frozen=True, slots=True)
class PodStatus:
    """A SecretProviderClassPodStatus: which versions the driver mounted for one pod."""

    namespace: str
    name: str
    pod_name: str
    spc_name: str
    node_name: str
    mounted: bool
    target_path: str
    objects: tuple[MountedObjectVersion, ...] = ()

    @property
    def volume_name(self) -> str:
        """``.../volumes/kubernetes.io~csi/<volume>/mount`` → ``<volume>``."""
        parts = self.target_path.rstrip("/").split("/")
        return parts[-2] if len(parts) >= 2 and parts[-1] == "mount" else ""

    @property
    def pod_uid(self) -> str:
        parts = self.target_path.rstrip("/").split("/")
        if "volumes" in parts:
            index = parts.index("volumes")
            return parts[index - 1] if index > 0 else ""
        return ""


@dataclasses.dataclass(frozen=True, slots=True)
class CsiVolume:
    """A pod volume served by the Secrets Store CSI driver."""

    namespace: str
    pod_name: str
    pod_uid: str
    node_name: str
    volume_name: str
    spc_name: str
    node_publish_secret: str = ""
    read_only: bool = True
    #: Where containers mount it (for sidecar mode): container name → mountPath.
    mount_paths: tuple[tuple[str, str], ...] = ()
    service_account: str = ""


def _str(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _flag(parameters: Mapping[str, Any], name: str) -> bool:
    return _str(parameters.get(name)).lower() == "true"


def parse_objects(text: str) -> tuple[tuple[KeyVaultObjectSpec, ...], tuple[str, ...]]:
    """The ``objects`` parameter: a YAML ``array:`` of YAML strings, one per object.

    Scalars are read as strings (the provider unmarshals into string fields), so
    ``filePermission: 0755`` stays octal text.
    """
    problems: list[str] = []
    if not text.strip():
        return (), ()
    try:
        outer = yaml.load(text, Loader=yaml.BaseLoader)  # noqa: S506 - BaseLoader builds only str/list/dict
    except yaml.YAMLError as exc:
        return (), (f"objects is not valid YAML: {exc.__class__.__name__}",)
    entries = outer.get("array") if isinstance(outer, dict) else None
    if not isinstance(entries, list):
        return (), ("objects has no 'array' list",)
    specs: list[KeyVaultObjectSpec] = []
    for index, entry in enumerate(entries):
        try:
            fields = yaml.load(entry, Loader=yaml.BaseLoader) if isinstance(entry, str) else entry  # noqa: S506
        except yaml.YAMLError:
            problems.append(f"objects[{index}] is not valid YAML")
            continue
        if not isinstance(fields, dict):
            problems.append(f"objects[{index}] is not a mapping")
            continue
        spec, problem = _object_spec(index, fields)
        if problem:
            problems.append(problem)
        if spec is not None:
            specs.append(spec)
    return tuple(specs), tuple(problems)


def _object_spec(
    index: int, fields: Mapping[str, Any]
) -> tuple[KeyVaultObjectSpec | None, str | None]:
    name = _str(fields.get("objectName"))
    if not name:
        return None, f"objects[{index}] has no objectName"
    type_text = _str(fields.get("objectType")).lower()
    object_type = _OBJECT_TYPES.get(type_text)
    if object_type is None:
        return (
            None,
            f"objects[{index}] ({name}): objectType {type_text!r} is not secret, key or cert",
        )
    problem: str | None = None
    history_text = _str(fields.get("objectVersionHistory")) or "0"
    try:
        history = int(history_text)
    except ValueError:
        history, problem = 0, f"{name}: objectVersionHistory {history_text!r} is not a number"
    fmt = _str(fields.get("objectFormat")).lower() or "pem"
    encoding = _str(fields.get("objectEncoding")).lower() or "utf-8"
    if fmt not in _FORMATS:
        problem = f"{name}: objectFormat {fmt!r} is not pem or pfx"
    elif fmt == "pfx" and object_type is not ObjectType.SECRET:
        problem = f"{name}: PFX format only supported for objectType: secret"
    if encoding not in _ENCODINGS:
        problem = f"{name}: objectEncoding {encoding!r} is not utf-8, base64 or hex"
    permission_text = _str(fields.get("filePermission"))
    permission = DEFAULT_FILE_PERMISSION
    if permission_text:
        try:
            permission = int(permission_text, 8)
        except ValueError:
            problem = f"{name}: filePermission {permission_text!r} is not octal"
    alias = _str(fields.get("objectAlias"))
    if alias and (alias.startswith("/") or ".." in alias.split("/")):
        problem = f"{name}: objectAlias {alias!r} must be relative without '..'"
    return (
        KeyVaultObjectSpec(
            object_name=name,
            object_type=object_type,
            object_version=_str(fields.get("objectVersion")),
            object_version_history=history,
            object_alias=alias,
            object_format=fmt,
            object_encoding=encoding,
            file_permission=permission,
        ),
        problem,
    )


def parse_secret_provider_class(obj: Mapping[str, Any]) -> SecretProviderClass:
    metadata = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    parameters = spec.get("parameters") or {}
    problems: list[str] = []
    objects, object_problems = parse_objects(_str(parameters.get("objects")))
    problems.extend(object_problems)
    tenant = _str(parameters.get("tenantID"))
    deprecated_tenant = False
    if not tenant and _str(parameters.get("tenantId")):
        tenant, deprecated_tenant = _str(parameters.get("tenantId")), True
    modes = [
        name
        for name in ("usePodIdentity", "useVMManagedIdentity", "useAzureTokenProxy")
        if _flag(parameters, name)
    ]
    if len(modes) > 1:
        problems.append(f"only one identity mode can be enabled at a time: {', '.join(modes)}")
    synced: list[SyncedSecret] = []
    for item in spec.get("secretObjects") or []:
        if not isinstance(item, Mapping):
            continue
        data = tuple(
            (_str(entry.get("objectName")), _str(entry.get("key")))
            for entry in item.get("data") or []
            if isinstance(entry, Mapping)
        )
        synced.append(
            SyncedSecret(_str(item.get("secretName")), _str(item.get("type")) or "Opaque", data)
        )
    return SecretProviderClass(
        namespace=_str(metadata.get("namespace")),
        name=_str(metadata.get("name")),
        provider=_str(spec.get("provider")),
        keyvault_name=_str(parameters.get("keyvaultName")),
        tenant_id=tenant,
        tenant_id_deprecated_key=deprecated_tenant,
        client_id=_str(parameters.get("clientID")),
        use_azure_token_proxy=_flag(parameters, "useAzureTokenProxy"),
        use_pod_identity=_flag(parameters, "usePodIdentity"),
        use_vm_managed_identity=_flag(parameters, "useVMManagedIdentity"),
        user_assigned_identity_id=_str(parameters.get("userAssignedIdentityID")),
        cloud_name=_str(parameters.get("cloudName")),
        objects=objects,
        secret_objects=tuple(synced),
        problems=tuple(problems),
    )


def resolve_identity(spc: SecretProviderClass, volume: CsiVolume | None) -> Identity:
    """The identity mode the provider uses, in its own order of precedence."""
    if spc.use_pod_identity:
        return Identity(IdentityMode.POD_IDENTITY)
    if spc.use_vm_managed_identity:
        return Identity(IdentityMode.VM_MANAGED_IDENTITY, spc.user_assigned_identity_id)
    if spc.use_azure_token_proxy:
        return Identity(IdentityMode.IDENTITY_BINDING, spc.client_id)
    if spc.client_id:
        return Identity(IdentityMode.WORKLOAD_IDENTITY, spc.client_id)
    if volume is not None and volume.node_publish_secret:
        return Identity(
            IdentityMode.SERVICE_PRINCIPAL,
            credential_secret=f"{volume.namespace}/{volume.node_publish_secret}",
        )
    return Identity(IdentityMode.UNKNOWN)


def parse_pod_status(obj: Mapping[str, Any]) -> PodStatus:
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    labels = metadata.get("labels") or {}
    objects = tuple(
        MountedObjectVersion(_str(item.get("id")), _str(item.get("version")))
        for item in status.get("objects") or []
        if isinstance(item, Mapping)
    )
    return PodStatus(
        namespace=_str(metadata.get("namespace")),
        name=_str(metadata.get("name")),
        pod_name=_str(status.get("podName")),
        spc_name=_str(status.get("secretProviderClassName")),
        node_name=_str(labels.get(NODE_NAME_LABEL)),
        mounted=bool(status.get("mounted")),
        target_path=_str(status.get("targetPath")),
        objects=objects,
    )


def csi_volumes_of_pod(pod: Mapping[str, Any]) -> tuple[CsiVolume, ...]:
    """The pod's inline volumes with ``csi.driver: secrets-store.csi.k8s.io``."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    mounts: dict[str, list[tuple[str, str]]] = {}
    containers: Sequence[Any] = [
        *(spec.get("initContainers") or []),
        *(spec.get("containers") or []),
    ]
    for container in containers:
        for mount in container.get("volumeMounts") or []:
            mounts.setdefault(_str(mount.get("name")), []).append(
                (_str(container.get("name")), _str(mount.get("mountPath")))
            )
    volumes: list[CsiVolume] = []
    for volume in spec.get("volumes") or []:
        csi = volume.get("csi") if isinstance(volume, Mapping) else None
        if not isinstance(csi, Mapping) or _str(csi.get("driver")) != CSI_DRIVER:
            continue
        attributes = csi.get("volumeAttributes") or {}
        secret_ref = csi.get("nodePublishSecretRef") or {}
        name = _str(volume.get("name"))
        volumes.append(
            CsiVolume(
                namespace=_str(metadata.get("namespace")),
                pod_name=_str(metadata.get("name")),
                pod_uid=_str(metadata.get("uid")),
                node_name=_str(spec.get("nodeName")),
                volume_name=name,
                spc_name=_str(attributes.get("secretProviderClass")),
                node_publish_secret=_str(secret_ref.get("name")),
                read_only=csi.get("readOnly") is not False,
                mount_paths=tuple(mounts.get(name, ())),
                service_account=_str(spec.get("serviceAccountName")),
            )
        )
    return tuple(volumes)
