"""Secrets benchmark: read a node's worth of CSI mounts, and Key Vault metadata through the real SDK.

    python benchmarks/bench_secrets.py [--pods 200] [--vault-objects 50] [--versions 10]

Builds a kubelet pods directory with ``--pods`` mounts (each: PEM secret with key and chain,
certificate, public key, PFX, two opaque values with version history) in the atomic-writer
layout, then times ``read_mount`` over all of them (files classified per second), and reads
``--vault-objects`` secrets with ``--versions`` versions each from the loopback Key Vault with
``SecretClient`` (objects per second, requests made). Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.secrets.files import KeyedHasher  # noqa: E402
from agent.secrets.keyvault import VaultReader, VaultSettings  # noqa: E402
from agent.secrets.model import ObjectType  # noqa: E402
from agent.secrets.mounts import find_csi_mounts, read_mount  # noqa: E402
from inspector.lab import csi_tree, pki  # noqa: E402
from inspector.lab.keyvault import FakeKeyVault, FakeVersion  # noqa: E402


class _Token:
    """A fixed-token credential (the benchmark measures the vault reads, not Entra)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: object) -> object:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


def bench_mounts(root: Path, pods: int) -> None:
    ca = pki.make_ca()
    intermediate = pki.make_ca("bench intermediate", issuer=ca)
    rsa_leaf = pki.make_leaf(intermediate, key_kind="rsa", key_bits=2048)
    started = time.perf_counter()
    for index in range(pods):
        leaf = pki.make_leaf(
            intermediate
        )  # every pod its own EC key and certificate: no two files alike
        files: dict[str, csi_tree.FileSpec] = {
            "tls.pem": (csi_tree.pem_secret_with_key(leaf, (intermediate,)), 0o440),
            "tls.crt": csi_tree.cert_object(leaf),
            "signing-key": csi_tree.key_object(rsa_leaf),
            "bundle.pfx": csi_tree.pfx_secret(leaf, (intermediate,)),
            **csi_tree.version_history(
                "db-password", [f"current-{index}".encode(), f"previous-{index}".encode()], 0o440
            ),
        }
        csi_tree.write_kubelet_mount(root, f"pod-{index:05d}", "secrets-store", files)
    built = time.perf_counter() - started
    print(
        f"mounts: {pods} pods x 6 files (PEM key+chain, cert, public key, PFX, 2 versions) built in {built:.2f} s"
    )
    hasher = KeyedHasher.ephemeral()
    for label in (
        "first cycle (every file parsed)",
        "next cycle (unchanged files recalled by keyed hash)",
    ):
        started = time.perf_counter()
        count = 0
        for location in find_csi_mounts(root):
            count += len(read_mount(location.path, hasher).files)
        elapsed = time.perf_counter() - started
        print(
            f"mounts: {label}: {count} files in {elapsed:.2f} s = {count / elapsed:,.0f} files/s, {pods / elapsed:,.0f} mounts/s"
        )


def bench_vault(objects: int, versions: int) -> None:
    with FakeKeyVault(page_size=25) as vault:
        for index in range(objects):
            vault.add_secret(f"secret-{index}", [FakeVersion(value="x") for _ in range(versions)])
        reader = VaultReader(
            _Token(vault.access_token),  # type: ignore[arg-type]
            VaultSettings(
                url_overrides={"bench": vault.url},
                verify_challenge_resource=False,
                ca_file=vault.ca_file,
            ),
        )
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(
                pool.map(
                    lambda i: reader.read("bench", ObjectType.SECRET, f"secret-{i}"), range(objects)
                )
            )
        elapsed = time.perf_counter() - started
        errors = sum(1 for facts in results if facts.error)
        print(
            f"vault: {objects} secrets x {versions} versions in {elapsed:.2f} s = {objects / elapsed:,.1f} objects/s "
            f"({len(vault.requests)} requests, {errors} errors, 4 workers, loopback HTTPS)"
        )
        reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument("--vault-objects", type=int, default=50)
    parser.add_argument("--versions", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-secrets-") as directory:
        bench_mounts(Path(directory), args.pods)
    bench_vault(args.vault_objects, args.versions)


if __name__ == "__main__":
    main()
