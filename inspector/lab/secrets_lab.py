"""A complete CSI + Key Vault scenario: vault contents, kubelet mounts and the manifest variables.

Fills a running :class:`~inspector.lab.keyvault.FakeKeyVault` and a kubelet pods
directory so that ``manifests/secrets.yaml`` (loaded into the lab Kubernetes API
server with :attr:`SecretsScenario.variables`) describes them. Every finding the
secrets rules know has a cause here: a stale mount, a pinned version, a disabled
version, a key without rotation policy beyond its cryptoperiod, a service principal,
pod identity, node identity, a 403, a world-readable PFX, a synced private key.

:attr:`SecretsScenario.canaries` lists the secret bytes (values and private keys)
that must never show up in anything the agent writes.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import secrets
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from inspector.lab import csi_tree, pki
from inspector.lab.keyvault import FakeKeyVault, FakeVersion

MANIFEST = Path(__file__).with_name("manifests") / "secrets.yaml"
NODE = "aks-nodepool1-00000001"
OTHER_NODE = "aks-nodepool1-00000002"
VAULT_NAME = "kv-payments"


@dataclasses.dataclass
class SecretsScenario:
    variables: dict[str, str]
    #: Secret bytes planted in mounts (and the vault): must never be stored or logged.
    canaries: list[bytes]
    kubelet_pods_dir: Path
    vault: FakeKeyVault
    now: dt.datetime

    def mount(self, pod_uid_variable: str, volume: str) -> Path:
        return csi_tree.mount_dir(self.kubelet_pods_dir, self.variables[pod_uid_variable], volume)


def _ago(now: dt.datetime, days: float) -> dt.datetime:
    return now - dt.timedelta(days=days)


def _private_key_der(issued: pki.Issued) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def build_scenario(
    vault: FakeKeyVault, kubelet_pods_dir: Path, *, now: dt.datetime | None = None
) -> SecretsScenario:
    """Fill `vault` (already started) and write the node's mounts under `kubelet_pods_dir`."""
    now = now or dt.datetime.now(dt.UTC)
    tag = secrets.token_hex(6)
    canary = {
        name: f"CANARY-{name}-{tag}".encode()
        for name in (
            "db-old",
            "db-mounted",
            "db-latest",
            "db-first",
            "legacy",
            "batch-old",
            "batch-new",
            "reports",
        )
    }
    in_90_days = now + dt.timedelta(days=90)

    db = [
        FakeVersion(created=_ago(now, 40), value=canary["db-first"].decode(), expires=in_90_days),
        FakeVersion(created=_ago(now, 20), value=canary["db-old"].decode(), expires=in_90_days),
        FakeVersion(created=_ago(now, 10), value=canary["db-mounted"].decode(), expires=in_90_days),
        FakeVersion(created=_ago(now, 1), value=canary["db-latest"].decode(), expires=in_90_days),
    ]
    vault.add_secret("db-password", db)

    root = pki.make_ca("payments root CA")
    intermediate = pki.make_ca("payments issuing CA", issuer=root)
    old_leaf = pki.make_leaf(
        intermediate, common_name="checkout.payments.svc", dns_names=("checkout.payments.svc",)
    )
    leaf = pki.make_leaf(
        intermediate,
        common_name="checkout.payments.svc",
        dns_names=("checkout.payments.svc",),
        key_kind="rsa",
        key_bits=2048,
    )
    tls = [
        FakeVersion(
            created=_ago(now, 60),
            certificate=old_leaf,
            expires=old_leaf.certificate.not_valid_after_utc,
        ),
        FakeVersion(
            created=_ago(now, 5), certificate=leaf, expires=leaf.certificate.not_valid_after_utc
        ),
    ]
    vault.add_certificate("checkout-tls", tls)

    signing = [FakeVersion(created=_ago(now, 400))]
    vault.add_key("signing-key", signing, key_type="RSA")

    pfx_leaf = pki.make_leaf(
        root, common_name="partner-client", dns_names=(), ip_addresses=(), client=True
    )
    pfx_text = csi_tree.pfx_secret(pfx_leaf)
    pfx = [
        FakeVersion(
            created=_ago(now, 30),
            value=pfx_text.decode(),
            content_type="application/x-pkcs12",
            expires=in_90_days,
        )
    ]
    vault.add_secret("pfx-bundle", pfx)

    legacy = [
        FakeVersion(
            created=_ago(now, 50),
            value=canary["legacy"].decode(),
            enabled=False,
            expires=in_90_days,
        )
    ]
    vault.add_secret("legacy-password", legacy)

    batch = [
        FakeVersion(created=_ago(now, 100), value=canary["batch-old"].decode(), expires=in_90_days),
        FakeVersion(created=_ago(now, 10), value=canary["batch-new"].decode(), expires=in_90_days),
    ]
    vault.add_secret("batch-config", batch)

    reports = [
        FakeVersion(created=_ago(now, 3), value=canary["reports"].decode(), expires=in_90_days)
    ]
    vault.add_secret("reports-token", reports)
    vault.forbid("secrets", "reports-token")

    uids = {
        name: str(uuid.uuid4())
        for name in ("CHECKOUT_UID", "LEGACY_UID", "BATCH_UID", "REPORTS_UID", "ELSEWHERE_UID")
    }
    written = _ago(now, 2)
    csi_tree.write_kubelet_mount(
        kubelet_pods_dir,
        uids["CHECKOUT_UID"],
        "secrets-store",
        {
            **csi_tree.version_history(
                "db-password", [canary["db-mounted"], canary["db-old"]], mode=0o440
            ),
            "tls.pem": (csi_tree.pem_secret_with_key(leaf, (intermediate,)), 0o440),
            "tls.crt": csi_tree.cert_object(leaf),
            "signing-key": csi_tree.key_object(signing[0].key),
            "pfx-bundle": pfx_text,  # provider default 0644: world-readable private key
        },
        written_at=written,
    )
    csi_tree.write_kubelet_mount(
        kubelet_pods_dir,
        uids["LEGACY_UID"],
        "kv",
        {"legacy-password": canary["legacy"]},
        written_at=written,
    )
    csi_tree.write_kubelet_mount(
        kubelet_pods_dir,
        uids["BATCH_UID"],
        "config",
        {"batch-config": (canary["batch-old"], 0o400)},
        written_at=written,
    )
    csi_tree.write_kubelet_mount(
        kubelet_pods_dir,
        uids["REPORTS_UID"],
        "kv",
        {"reports-token": (canary["reports"], 0o440)},
        written_at=written,
    )
    variables = {
        "NODE": NODE,
        "OTHER_NODE": OTHER_NODE,
        "VAULT": VAULT_NAME,
        "TENANT": vault.tenant,
        **uids,
        "DB_V0": db[2].version,
        "DB_V1": db[1].version,
        "TLS_V": tls[1].version,
        "KEY_V": signing[0].version,
        "PFX_V": pfx[0].version,
        "LEGACY_V": legacy[0].version,
        "BATCH_V": batch[0].version,
        "REPORTS_V": reports[0].version,
    }
    canaries = [
        *canary.values(),
        leaf.key_pem,
        _private_key_der(leaf),
        _private_key_der(pfx_leaf),
        pfx_text,
        base64.b64decode(pfx_text),
    ]
    return SecretsScenario(variables, canaries, kubelet_pods_dir, vault, now)
