"""The agent loop's entry point configured only by settings and the workload-identity environment,
and sidecar mode (the agent reads the CSI volume it shares with the workload)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import kubernetes.client
import pytest

import agent.secrets.inspector as secrets_inspector
from agent.config import load_settings
from agent.discovery import ClusterState
from agent.runner import CycleContext
from agent.secrets.files import KeyedHasher
from agent.secrets.inspector import SecretsInspector, SecretsSettings
from agent.store import Store
from inspector.lab.kube_api import KubeAPIServer
from inspector.lab.secrets_lab import NODE, VAULT_NAME, SecretsScenario
from tests.secrets.conftest import make_reader


def _pods(api: KubeAPIServer, **selector: str) -> tuple[dict, ...]:  # type: ignore[type-arg]
    client = kubernetes.client.ApiClient(api.configuration())
    listing = kubernetes.client.CoreV1Api(client).list_pod_for_all_namespaces(**selector)
    return tuple(client.sanitize_for_serialization(pod) for pod in listing.items)


def test_default_inspect_from_settings_and_env(
    lab: tuple[SecretsScenario, KubeAPIServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario, api = lab
    vault = scenario.vault
    token = tmp_path / "azure-identity-token"
    token.write_text(vault.federated_token)
    for name, value in {
        "AZURE_CLIENT_ID": vault.client_id,
        "AZURE_TENANT_ID": vault.tenant,
        "AZURE_FEDERATED_TOKEN_FILE": str(token),
        "AZURE_AUTHORITY_HOST": vault.authority,
        "AZURE_TOKEN_CREDENTIALS": "WorkloadIdentityCredential",
        "REQUESTS_CA_BUNDLE": vault.ca_file,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(secrets_inspector, "_SHARED", {})
    settings = load_settings(
        {
            "mode": "daemonset",
            "node_name": NODE,
            "kubelet_pods_dir": str(scenario.kubelet_pods_dir),
            "kubeconfig": str(api.write_kubeconfig(tmp_path / "kubeconfig")),
            "keyvault_urls": f"{VAULT_NAME}={vault.url}",
            "keyvault_ca_file": vault.ca_file,
            "keyvault_verify_challenge_resource": "false",
            "secrets_cryptoperiods": "secret=5",
        },
        environ={},
    )
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        run_id = store.begin_run(agent_id="a", mode="daemonset", node=NODE)
        context = CycleContext(
            run_id,
            store,
            settings,
            ClusterState(pods=_pods(api, field_selector=f"spec.nodeName={NODE}")),
            (),
            time.monotonic() + 120,
            threading.Event(),
        )
        covered = secrets_inspector.inspect(context)
        store.finish_run(run_id, covered_subject_keys=covered)
    assert "payments/checkout-0/secrets-store" in covered
    assert (db.with_name("secret-hash.key").stat().st_mode & 0o777) == 0o600
    with sqlite3.connect(db) as conn:
        periods = conn.execute(
            "SELECT object_name, cryptoperiod_days, cryptoperiod_exceeded FROM current_secret_objects"
            " WHERE object_name = 'db-password'"
        ).fetchall()
        assert periods == [("db-password", 5, 1)]  # 10 days old, 5-day cryptoperiod
        assert (
            conn.execute(
                "SELECT count(*) FROM current_vault_objects WHERE error_kind IS NULL"
            ).fetchone()[0]
            >= 6
        )


def test_no_csi_volumes_means_nothing_is_touched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets_inspector, "_SHARED", {})
    settings = load_settings({"mode": "daemonset", "node_name": "n"}, environ={})
    pod = {"metadata": {"name": "p", "namespace": "x"}, "spec": {"containers": [{"name": "c"}]}}
    with Store.open(tmp_path / "a.db") as store:
        context = CycleContext(
            1,
            store,
            settings,
            ClusterState(pods=(pod,)),
            (),
            time.monotonic() + 5,
            threading.Event(),
        )
        assert secrets_inspector.inspect(context) == ()
    assert not (tmp_path / "secret-hash.key").exists()


def test_sidecar_mode_reads_the_shared_volume(
    lab: tuple[SecretsScenario, KubeAPIServer], tmp_path: Path
) -> None:
    scenario, api = lab
    client = kubernetes.client.ApiClient(api.configuration())
    settings = SecretsSettings(
        mode="sidecar",
        pod_name="checkout-0",
        pod_namespace="payments",
        sidecar_mount_paths={"secrets-store": str(scenario.mount("CHECKOUT_UID", "secrets-store"))},
    )
    inspector = SecretsInspector(
        settings,
        core_api=kubernetes.client.CoreV1Api(client),
        custom_api=kubernetes.client.CustomObjectsApi(client),
        vault_reader=make_reader(scenario.vault, tmp_path),
        hasher=KeyedHasher.ephemeral(),
    )
    result = inspector.inspect()
    (mount,) = result.mounts
    assert mount.pod_name == "checkout-0" and len(mount.snapshot.files) == 6
    assert mount.status is not None and mount.status.spc_name == "checkout-kv"
    assert any(finding.rule_id == "V4" for finding in result.findings)
