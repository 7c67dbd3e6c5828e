"""A full secrets inspection: real kubernetes client → lab API server, kubelet tree, loopback Key Vault."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agent.secrets.inspector import SecretsCycleResult
from agent.secrets.model import ContentKind, IdentityMode
from inspector.lab.kube_api import KubeAPIServer
from inspector.lab.secrets_lab import SecretsScenario
from tests.secrets.conftest import make_inspector


@pytest.fixture(scope="module")
def result(
    lab: tuple[SecretsScenario, KubeAPIServer], tmp_path_factory: pytest.TempPathFactory
) -> SecretsCycleResult:
    scenario, api = lab
    return make_inspector(scenario, api, tmp_path_factory.mktemp("wi")).inspect()


def _mount(result: SecretsCycleResult, pod: str):  # type: ignore[no-untyped-def]
    return next(mount for mount in result.mounts if mount.pod_name == pod)


def test_only_this_nodes_pods_are_covered(result: SecretsCycleResult) -> None:
    assert sorted(mount.pod_name for mount in result.mounts) == [
        "batch-0",
        "checkout-0",
        "legacy-0",
        "reports-0",
    ]
    assert result.errors == ()


def test_identity_modes(result: SecretsCycleResult) -> None:
    modes = {mount.pod_name: mount.identity.mode for mount in result.mounts}
    assert modes == {
        "checkout-0": IdentityMode.WORKLOAD_IDENTITY,
        "legacy-0": IdentityMode.SERVICE_PRINCIPAL,
        "batch-0": IdentityMode.VM_MANAGED_IDENTITY,
        "reports-0": IdentityMode.POD_IDENTITY,
    }
    assert _mount(result, "legacy-0").identity.credential_secret == "payments/kv-sp-creds"
    assert _mount(result, "legacy-0").spc.tenant_id_deprecated_key


def test_files_are_matched_to_objects_by_alias(result: SecretsCycleResult) -> None:
    checkout = _mount(result, "checkout-0")
    by_object = {
        (item.spec.object_type.value, item.spec.object_name): item for item in checkout.objects
    }
    assert [f.path for f in by_object[("secret", "db-password")].files] == [
        "db-password/0",
        "db-password/1",
    ]
    assert by_object[("secret", "checkout-tls")].files[0].kind is ContentKind.CERTIFICATE_WITH_KEY
    assert by_object[("cert", "checkout-tls")].files[0].kind is ContentKind.CERTIFICATE
    assert by_object[("key", "signing-key")].files[0].kind is ContentKind.PUBLIC_KEY
    assert by_object[("secret", "pfx-bundle")].files[0].kind is ContentKind.PFX
    assert checkout.unmatched_files == ()
    assert checkout.snapshot.written_at is not None
    assert by_object[("secret", "db-password")].mounted_versions[0][0] == 0


def test_vault_comparison(
    result: SecretsCycleResult, lab: tuple[SecretsScenario, KubeAPIServer]
) -> None:
    scenario, _ = lab
    checkout = {
        item.spec.object_name + "/" + item.spec.object_type.value: item
        for item in _mount(result, "checkout-0").objects
    }
    db = checkout["db-password/secret"].comparison
    assert db is not None and db.is_latest is False and db.stale and db.newer_versions == 1
    tls = checkout["checkout-tls/cert"].comparison
    assert tls is not None and tls.is_latest and tls.thumbprint_match is True
    tls_secret = checkout["checkout-tls/secret"].comparison
    assert (
        tls_secret is not None and tls_secret.thumbprint_match is True
    )  # via the certificate's x5t
    key = checkout["signing-key/key"]
    assert key.vault is not None and key.vault.hsm_backed is False
    assert key.comparison is not None and key.comparison.cryptoperiod_exceeded
    legacy = _mount(result, "legacy-0").objects[0].comparison
    assert legacy is not None and legacy.mounted_enabled is False
    reports = _mount(result, "reports-0").objects[0]
    assert (
        reports.vault is not None
        and reports.vault.error is not None
        and reports.vault.error.status == 403
    )
    assert scenario.vault.value_reads() == []


def test_findings_cover_every_scenario(result: SecretsCycleResult) -> None:
    rules = Counter(finding.rule_id for finding in result.findings)
    for rule_id in (
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V7",
        "V8",
        "V13",
        "V14",
        "V15",
        "V16",
        "V19",
        "V20",
    ):
        assert rules[rule_id] >= 1, rule_id
    by_rule = {finding.rule_id: finding for finding in result.findings}
    assert by_rule["V7"].subject_key == "payments/legacy-0/kv"
    assert by_rule["V7"].requirements == ("3.6.1",)
    assert by_rule["V3"].requirements == ("3.7.5",)
    assert by_rule["V4"].subject_key == "payments/checkout-0/secrets-store/secret/db-password"
    assert by_rule["V8"].message.startswith(
        "a private key is synced into Kubernetes Secret payments/checkout-tls-sync"
    )
    world = [f for f in result.findings if f.rule_id == "V15"]
    assert sorted(f.detail_key for f in world) == ["legacy-password", "pfx-bundle"]  # 0644 default
    assert "V17" not in rules  # thumbprints match


def test_filesystem_only_without_kubernetes(
    lab: tuple[SecretsScenario, KubeAPIServer], tmp_path: Path
) -> None:
    scenario, _ = lab
    result = make_inspector(scenario, None, tmp_path).inspect()
    assert len(result.mounts) == 4
    assert all(mount.spc is None and mount.unmatched_files for mount in result.mounts)


def test_kubernetes_errors_are_recorded_and_the_disk_still_read(
    lab: tuple[SecretsScenario, KubeAPIServer], tmp_path: Path
) -> None:
    scenario, api = lab
    api.inject(r"^/api/v1/pods", status=500, times=10)
    try:
        result = make_inspector(scenario, api, tmp_path).inspect()
    finally:
        api.clear_faults()
    assert any("kubernetes pods" in error for error in result.errors)
    assert len(result.mounts) == 4


def test_a_hanging_vault_is_cut_at_the_deadline(
    lab: tuple[SecretsScenario, KubeAPIServer], tmp_path: Path
) -> None:
    """Key Vault reads get a deadline: a vault that does not answer becomes a recorded error, fast."""
    import time

    scenario, api = lab
    scenario.vault.delay_s = 30
    try:
        inspector = make_inspector(scenario, api, tmp_path, vault_deadline_s=1.5)
        started = time.monotonic()
        result = inspector.inspect()
        elapsed = time.monotonic() - started
    finally:
        scenario.vault.delay_s = 0
    assert elapsed < 25  # far less than the vault's 30 s stall; generous for a loaded machine
    assert any("unreachable" in error for error in result.errors)
    assert all(facts.error is not None for facts in result.vault_objects)
    assert len(result.mounts) == 4 and all(mount.snapshot.files for mount in result.mounts)


def test_missing_vault_evidence_covers_nothing(
    lab: tuple[SecretsScenario, KubeAPIServer], tmp_path: Path
) -> None:
    """A throttled vault must not resolve an object's earlier findings: its key is not 'covered'."""
    scenario, api = lab
    healthy = make_inspector(scenario, api, tmp_path).inspect()
    stale_key = "payments/checkout-0/secrets-store/secret/db-password"
    assert stale_key in healthy.covered_subject_keys
    assert "payments/reports-0/kv/secret/reports-token" not in healthy.covered_subject_keys  # 403
    scenario.vault.throttle_requests = 1000
    try:
        throttled = make_inspector(scenario, api, tmp_path).inspect()
    finally:
        scenario.vault.throttle_requests = 0
    assert stale_key not in throttled.covered_subject_keys
    assert (
        "payments/checkout-0/secrets-store" in throttled.covered_subject_keys
    )  # the mount itself was read
    assert not any(f.rule_id == "V4" for f in throttled.findings)
