"""SecretProviderClass / SPCPS / pod volume parsing: the provider's exact field names and rules."""

from __future__ import annotations

from typing import Any

import pytest

from agent.secrets.model import IdentityMode, ObjectType
from agent.secrets.spc import (
    csi_volumes_of_pod,
    parse_objects,
    parse_pod_status,
    parse_secret_provider_class,
    resolve_identity,
)


def spc(parameters: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "secrets-store.csi.x-k8s.io/v1",
        "kind": "SecretProviderClass",
        "metadata": {"name": "kv", "namespace": "shop"},
        "spec": {"provider": "azure", "parameters": parameters, **spec},
    }


OBJECTS = """
array:
  - |
    objectName: secret1
    objectType: secret
    objectVersion: ""
    objectVersionHistory: 5
    filePermission: 0755
  - |
    objectName: key1
    objectType: key
    objectVersion: 9f0e1d2c
  - |
    objectName: " bundle "
    objectType: secret
    objectFormat: pfx
    objectEncoding: base64
    objectAlias: certs/bundle.pfx
"""


def test_objects_fields_exactly_as_the_provider_reads_them() -> None:
    specs, problems = parse_objects(OBJECTS)
    assert problems == ()
    first, second, third = specs
    assert (first.object_name, first.object_type, first.object_version_history) == (
        "secret1",
        ObjectType.SECRET,
        5,
    )
    assert first.file_permission == 0o755  # octal text, not YAML 1.1 integer 755
    assert not first.pinned and second.pinned and second.object_version == "9f0e1d2c"
    assert third.object_name == "bundle"  # whitespace trimmed
    assert (third.object_format, third.object_encoding, third.file_name) == (
        "pfx",
        "base64",
        "certs/bundle.pfx",
    )
    assert second.file_permission == 0o644 and second.uid == "key/key1"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("objectName: a\n    objectType: password", "is not secret, key or cert"),
        (
            "objectName: a\n    objectType: key\n    objectFormat: pfx",
            "PFX format only supported for objectType: secret",
        ),
        ("objectName: a\n    objectType: secret\n    objectEncoding: rot13", "objectEncoding"),
        ("objectName: a\n    objectType: secret\n    filePermission: rw-r", "not octal"),
        (
            "objectName: a\n    objectType: secret\n    objectAlias: ../../etc/passwd",
            "must be relative",
        ),
        ("objectType: secret", "has no objectName"),
    ],
)
def test_invalid_objects_are_problems_not_crashes(entry: str, problem: str) -> None:
    _, problems = parse_objects(f"array:\n  - |\n    {entry}\n")
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    "text", ["array: [", "just text", "array: notalist", "array:\n  - [1, 2]\n"]
)
def test_malformed_objects_yaml(text: str) -> None:
    specs, problems = parse_objects(text)
    assert specs == () and problems


def test_parameters_identity_modes_and_sync() -> None:
    parsed = parse_secret_provider_class(
        spc(
            {
                "keyvaultName": "kv1",
                "tenantId": "t-old",
                "clientID": "wi-client",
                "objects": OBJECTS,
            },
            secretObjects=[
                {
                    "secretName": "tls",
                    "type": "kubernetes.io/tls",
                    "data": [{"objectName": "bundle", "key": "tls.key"}],
                }
            ],
        )
    )
    assert (parsed.keyvault_name, parsed.tenant_id, parsed.tenant_id_deprecated_key) == (
        "kv1",
        "t-old",
        True,
    )
    assert parsed.secret_objects[0].data == (("bundle", "tls.key"),)
    assert resolve_identity(parsed, None).mode is IdentityMode.WORKLOAD_IDENTITY
    preferred = parse_secret_provider_class(spc({"tenantID": "t-new", "tenantId": "t-old"}))
    assert (preferred.tenant_id, preferred.tenant_id_deprecated_key) == ("t-new", False)
    binding = parse_secret_provider_class(spc({"useAzureTokenProxy": "true", "clientID": "mi"}))
    assert resolve_identity(binding, None).mode is IdentityMode.IDENTITY_BINDING
    node = parse_secret_provider_class(
        spc({"useVMManagedIdentity": "true", "userAssignedIdentityID": "uami"})
    )
    assert resolve_identity(node, None).principal == "uami"
    both = parse_secret_provider_class(
        spc({"usePodIdentity": "true", "useVMManagedIdentity": "true"})
    )
    assert any("only one identity mode" in problem for problem in both.problems)
    assert (
        resolve_identity(both, None).mode is IdentityMode.POD_IDENTITY
    )  # the provider's precedence


POD = {
    "metadata": {"name": "web-0", "namespace": "shop", "uid": "u-1"},
    "spec": {
        "nodeName": "n1",
        "serviceAccountName": "web",
        "containers": [{"name": "web", "volumeMounts": [{"name": "kv", "mountPath": "/mnt/kv"}]}],
        "volumes": [
            {
                "name": "kv",
                "csi": {
                    "driver": "secrets-store.csi.k8s.io",
                    "readOnly": True,
                    "volumeAttributes": {"secretProviderClass": "kv"},
                    "nodePublishSecretRef": {"name": "sp-creds"},
                },
            },
            {"name": "disk", "csi": {"driver": "disk.csi.azure.com"}},
            {"name": "cfg", "configMap": {"name": "x"}},
        ],
    },
}


def test_pod_volumes_and_service_principal() -> None:
    (volume,) = csi_volumes_of_pod(POD)
    assert (volume.volume_name, volume.spc_name, volume.pod_uid, volume.node_name) == (
        "kv",
        "kv",
        "u-1",
        "n1",
    )
    assert volume.mount_paths == (("web", "/mnt/kv"),) and volume.service_account == "web"
    identity = resolve_identity(parse_secret_provider_class(spc({"keyvaultName": "kv1"})), volume)
    assert (
        identity.mode is IdentityMode.SERVICE_PRINCIPAL
        and identity.credential_secret == "shop/sp-creds"
    )


def test_pod_status() -> None:
    status = parse_pod_status(
        {
            "metadata": {
                "name": "web-0-shop-kv",
                "namespace": "shop",
                "labels": {"internal.secrets-store.csi.k8s.io/node-name": "n1"},
            },
            "status": {
                "podName": "web-0",
                "secretProviderClassName": "kv",
                "mounted": True,
                "targetPath": "/var/lib/kubelet/pods/u-1/volumes/kubernetes.io~csi/kv/mount",
                "objects": [
                    {"id": "secret/secret1/1", "version": "v1"},
                    {"id": "key/key1", "version": "v9"},
                ],
            },
        }
    )
    assert (status.node_name, status.pod_uid, status.volume_name, status.mounted) == (
        "n1",
        "u-1",
        "kv",
        True,
    )
    history, key = status.objects
    assert (history.object_type, history.object_name, history.version_index) == (
        "secret",
        "secret1",
        1,
    )
    assert key.version_index is None and key.version == "v9"
