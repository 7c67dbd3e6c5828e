"""Key Vault metadata through the REAL Azure SDK clients against a loopback HTTPS vault.

Token acquisition is real too: WorkloadIdentityCredential / DefaultAzureCredential
exchange a federated token file at a loopback authority (AZURE_AUTHORITY_HOST).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.identity import DefaultAzureCredential

from agent.secrets.compare import CompareSettings, compare, parse_cryptoperiods
from agent.secrets.keyvault import VaultReader, VaultSettings, hsm_backed, vault_url
from agent.secrets.model import ObjectType
from inspector.lab import pki
from inspector.lab.keyvault import FakeKeyVault, FakeVersion, certificate_policy, rotate_policy
from tests.secrets.conftest import lab_credential

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def _days(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


@pytest.fixture(scope="module")
def leaf_versions() -> list[pki.Issued]:
    ca = pki.make_ca()
    return [pki.make_leaf(ca), pki.make_leaf(ca)]


@pytest.fixture(scope="module")
def vault(leaf_versions: list[pki.Issued]) -> Iterator[FakeKeyVault]:
    with FakeKeyVault(page_size=2) as kv:
        kv.add_secret(
            "db-password",
            [
                FakeVersion(
                    created=_days(d), value=f"canary-value-{d}", expires=NOW + dt.timedelta(days=90)
                )
                for d in (400, 200, 100, 30, 2)
            ],
        )
        kv.add_secret("no-expiry", [FakeVersion(created=_days(10), value="x")])
        kv.add_secret("disabled", [FakeVersion(created=_days(10), value="x", enabled=False)])
        kv.add_key(
            "hsm-key",
            [FakeVersion(created=_days(5))],
            key_type="RSA-HSM",
            rotation_policy=rotate_policy(),
        )
        kv.add_key("soft-key", [FakeVersion(created=_days(500))], key_type="EC")
        kv.add_certificate(
            "web",
            [
                FakeVersion(created=_days(60), certificate=leaf_versions[0]),
                FakeVersion(created=_days(1), certificate=leaf_versions[1]),
            ],
            policy=certificate_policy("EC-HSM", 256, auto_renew=False),
        )
        kv.forbid("secrets", "locked")
        yield kv


@pytest.fixture(scope="module")
def token_file(vault: FakeKeyVault, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wi") / "azure-identity-token"
    path.write_text(vault.federated_token)
    return path


@pytest.fixture(scope="module")
def reader(vault: FakeKeyVault, token_file: Path) -> Iterator[VaultReader]:
    credential = lab_credential(vault, token_file)
    settings = VaultSettings(
        url_overrides={"kv-lab": vault.url}, verify_challenge_resource=False, ca_file=vault.ca_file
    )
    vault_reader = VaultReader(credential, settings)
    yield vault_reader
    vault_reader.close()


def test_secret_versions_are_paged_and_metadata_only(
    reader: VaultReader, vault: FakeKeyVault
) -> None:
    facts = reader.read("kv-lab", ObjectType.SECRET, "db-password")
    assert facts.error is None
    assert len(facts.versions) == 5  # three pages of two via nextLink
    assert facts.latest is not None and facts.latest.created_on == _days(2)
    assert [v.created_on for v in facts.versions] == sorted(
        (v.created_on for v in facts.versions), reverse=True
    )
    assert any("$skiptoken=4" in path for _, path, _ in vault.requests)
    assert vault.value_reads() == []
    assert "canary-value" not in repr(facts)


def test_challenge_then_workload_identity_token(reader: VaultReader, vault: FakeKeyVault) -> None:
    reader.read("kv-lab", ObjectType.SECRET, "no-expiry")
    statuses = [status for _, _, status in vault.requests]
    assert 401 in statuses  # the body-less first request elicited the challenge
    assert vault.tokens_issued >= 1


def test_key_type_hsm_and_rotation_policy(reader: VaultReader) -> None:
    hsm = reader.read("kv-lab", ObjectType.KEY, "hsm-key")
    assert hsm.error is None and hsm.hsm_backed is True
    assert hsm.latest is not None and (hsm.latest.key_type, hsm.latest.key_bits) == (
        "RSA-HSM",
        2048,
    )
    assert hsm.rotation_policy is not None and hsm.rotation_policy.rotates
    assert hsm.rotation_policy.time_after_create == "P90D"
    soft = reader.read("kv-lab", ObjectType.KEY, "soft-key")
    assert soft.hsm_backed is False and soft.latest is not None and soft.latest.curve == "P-256"
    assert (
        soft.rotation_policy is not None and not soft.rotation_policy.rotates
    )  # default Notify-only policy


def test_certificate_thumbprints_and_policy(
    reader: VaultReader, leaf_versions: list[pki.Issued]
) -> None:
    facts = reader.read("kv-lab", ObjectType.CERT, "web")
    assert facts.error is None and facts.hsm_backed is True
    expected = leaf_versions[1].certificate.fingerprint(pki.hashes.SHA1()).hex()  # type: ignore[attr-defined]
    assert facts.latest is not None and facts.latest.x509_thumbprint == expected
    assert facts.rotation_policy is not None and not facts.rotation_policy.rotates


def test_403_and_404_are_recorded(reader: VaultReader) -> None:
    forbidden = reader.read("kv-lab", ObjectType.SECRET, "locked")
    assert forbidden.error is not None and (forbidden.error.kind, forbidden.error.status) == (
        "forbidden",
        403,
    )
    missing = reader.read("kv-lab", ObjectType.CERT, "nothing")
    assert missing.error is not None and (missing.error.kind, missing.error.status) == (
        "not-found",
        404,
    )


def test_429_is_recorded_and_the_vault_rests(vault: FakeKeyVault, reader: VaultReader) -> None:
    vault.throttle_requests = 1
    vault.retry_after_s = 30
    throttled = reader.read("kv-lab", ObjectType.SECRET, "no-expiry")
    assert throttled.error is not None and throttled.error.kind == "throttled"
    assert throttled.error.retry_after_s == 30
    before = len(vault.requests)
    again = reader.read("kv-lab", ObjectType.KEY, "hsm-key")
    assert again.error is not None and again.error.kind == "throttled"
    assert len(vault.requests) == before  # not asked again until Retry-After passes
    reader._throttled_until.clear()  # noqa: SLF001 - time travel for the next tests


def test_unreachable_vault_is_recorded_quickly(token_file: Path, vault: FakeKeyVault) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    credential = lab_credential(vault, token_file)
    reader = VaultReader(
        credential,
        VaultSettings(
            url_overrides={"gone": f"https://127.0.0.1:{dead_port}"},
            verify_challenge_resource=False,
            connection_timeout_s=2,
            read_timeout_s=2,
        ),
    )
    facts = reader.read("gone", ObjectType.SECRET, "x")
    assert facts.error is not None and facts.error.kind == "unreachable"


def test_default_azure_credential_from_webhook_env(
    vault: FakeKeyVault, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_CLIENT_ID", vault.client_id)
    monkeypatch.setenv("AZURE_TENANT_ID", vault.tenant)
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", vault.authority)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "WorkloadIdentityCredential")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", vault.ca_file)
    issued = vault.tokens_issued
    reader = VaultReader(
        DefaultAzureCredential(),
        VaultSettings(
            url_overrides={"kv-lab": vault.url},
            verify_challenge_resource=False,
            ca_file=vault.ca_file,
        ),
    )
    facts = reader.read("kv-lab", ObjectType.SECRET, "disabled")
    assert facts.error is None and facts.latest is not None and facts.latest.enabled is False
    assert vault.tokens_issued == issued + 1


def test_wrong_federated_token_is_a_credential_error(vault: FakeKeyVault, tmp_path: Path) -> None:
    bad = tmp_path / "token"
    bad.write_text("not-the-token")
    credential = lab_credential(vault, bad)
    reader = VaultReader(
        credential,
        VaultSettings(
            url_overrides={"kv-lab": vault.url},
            verify_challenge_resource=False,
            ca_file=vault.ca_file,
        ),
    )
    facts = reader.read("kv-lab", ObjectType.SECRET, "db-password")
    assert facts.error is not None and facts.error.kind == "credential"


def test_compare_mounted_with_vault(reader: VaultReader, leaf_versions: list[pki.Issued]) -> None:
    secret = reader.read("kv-lab", ObjectType.SECRET, "db-password")
    oldest = secret.versions[-1].version
    stale = compare(secret, oldest, now=NOW)
    assert stale.is_latest is False and stale.stale and stale.newer_versions == 4
    assert stale.cryptoperiod_exceeded is True  # 400 days > 365
    current = compare(secret, secret.versions[0].version, now=NOW)
    assert current.is_latest and not current.stale and current.cryptoperiod_exceeded is False
    assert current.mounted_has_expiry is True and current.mounted_expired is False
    disabled = compare(reader.read("kv-lab", ObjectType.SECRET, "disabled"), None, now=NOW)
    assert disabled.mounted_enabled is False and disabled.mounted_has_expiry is False
    cert = reader.read("kv-lab", ObjectType.CERT, "web")
    old_sha1 = leaf_versions[0].certificate.fingerprint(pki.hashes.SHA1()).hex()  # type: ignore[attr-defined]
    mismatch = compare(cert, cert.versions[0].version, mounted_leaf_sha1=old_sha1, now=NOW)
    assert mismatch.thumbprint_match is False
    match = compare(cert, cert.versions[1].version, mounted_leaf_sha1=old_sha1, now=NOW)
    assert match.thumbprint_match is True and match.is_latest is False
    tight = compare(
        secret,
        secret.versions[0].version,
        now=NOW,
        settings=CompareSettings(cryptoperiod_days=parse_cryptoperiods("secret=1")),
    )
    assert tight.cryptoperiod_exceeded is True and tight.cryptoperiod_days == 1


def test_urls_and_hsm_helpers() -> None:
    assert vault_url("kv1") == "https://kv1.vault.azure.net"
    assert vault_url("kv1", "AzureChinaCloud") == "https://kv1.vault.azure.cn"
    assert hsm_backed("RSA", "https://pool.managedhsm.azure.net") is True
    assert hsm_backed("EC", "https://kv.vault.azure.net") is False
    assert hsm_backed(None, "https://kv.vault.azure.net") is None
    with pytest.raises(ValueError, match="TYPE=DAYS"):
        parse_cryptoperiods("password=3")


def test_a_workload_identity_pod_never_falls_back_to_the_node_identity(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With the webhook's variables set, only WorkloadIdentityCredential is used (no IMDS fallback)."""
    from azure.identity import DefaultAzureCredential, WorkloadIdentityCredential

    from agent.secrets.keyvault import default_credential

    token_file = tmp_path / "token"
    token_file.write_text("a-federated-token")
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000002")
    monkeypatch.setenv("AZURE_FEDERATED_TOKEN_FILE", str(token_file))
    assert isinstance(default_credential(), WorkloadIdentityCredential)
    monkeypatch.delenv("AZURE_FEDERATED_TOKEN_FILE")
    assert isinstance(default_credential(), DefaultAzureCredential)
