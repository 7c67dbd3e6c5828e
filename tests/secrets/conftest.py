"""Shared fixtures: the loopback Key Vault, the lab Kubernetes API server and a built scenario."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import kubernetes.client
import pytest
from azure.identity import WorkloadIdentityCredential

from agent.secrets.files import KeyedHasher
from agent.secrets.inspector import SecretsInspector, SecretsSettings
from agent.secrets.keyvault import VaultReader, VaultSettings
from inspector.lab.keyvault import FakeKeyVault
from inspector.lab.kube_api import KubeAPIServer
from inspector.lab.secrets_lab import MANIFEST, NODE, VAULT_NAME, SecretsScenario, build_scenario


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SecretsScenario, KubeAPIServer]]:
    root = tmp_path_factory.mktemp("kubelet") / "pods"
    with FakeKeyVault() as vault, KubeAPIServer() as api:
        scenario = build_scenario(vault, root)
        api.load_yaml(MANIFEST, scenario.variables)
        yield scenario, api


def lab_credential(vault: FakeKeyVault, token_file: Path) -> WorkloadIdentityCredential:
    """Workload identity against the lab vault's token endpoint, with the token read from `token_file`."""
    return WorkloadIdentityCredential(
        tenant_id=vault.tenant,
        client_id=vault.client_id,
        token_file_path=str(token_file),
        authority=vault.authority,
        connection_verify=vault.ca_file,
    )


def make_reader(vault: FakeKeyVault, token_dir: Path) -> VaultReader:
    token = token_dir / "azure-identity-token"
    token.write_text(vault.federated_token)
    credential = lab_credential(vault, token)
    settings = VaultSettings(
        url_overrides={VAULT_NAME: vault.url},
        verify_challenge_resource=False,
        ca_file=vault.ca_file,
    )
    return VaultReader(credential, settings)


def make_inspector(
    scenario: SecretsScenario,
    api: KubeAPIServer | None,
    token_dir: Path,
    *,
    hasher: KeyedHasher | None = None,
    **overrides: object,
) -> SecretsInspector:
    settings = SecretsSettings(
        mode="daemonset",
        node_name=NODE,
        kubelet_pods_dir=scenario.kubelet_pods_dir,
        **overrides,  # type: ignore[arg-type]
    )
    core = custom = None
    if api is not None:
        client = kubernetes.client.ApiClient(api.configuration())
        core = kubernetes.client.CoreV1Api(client)
        custom = kubernetes.client.CustomObjectsApi(client)
    return SecretsInspector(
        settings,
        core_api=core,
        custom_api=custom,
        vault_reader=make_reader(scenario.vault, token_dir),
        hasher=hasher or KeyedHasher.ephemeral(),
    )
