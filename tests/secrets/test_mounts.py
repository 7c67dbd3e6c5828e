"""Reading kubelet CSI trees built in the real atomic-writer layout."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from agent.secrets.files import KeyedHasher
from agent.secrets.model import ContentKind
from agent.secrets.mounts import (
    find_csi_mounts,
    host_path_under_root,
    kubelet_mount_path,
    parse_data_dir_time,
    read_mount,
)
from inspector.lab import csi_tree, pki

WRITTEN = dt.datetime(2026, 5, 1, 10, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def leaf() -> pki.Issued:
    return pki.make_leaf(pki.make_ca())


def test_every_object_type_and_format(tmp_path: Path, leaf: pki.Issued) -> None:
    files: dict[str, csi_tree.FileSpec] = {
        "tls": (csi_tree.pem_secret_with_key(leaf), 0o440),
        "cert": csi_tree.cert_object(leaf),
        "signing-key": csi_tree.key_object(leaf),
        "bundle.pfx": csi_tree.pfx_secret(leaf),
        "db-password": (b"correct horse", 0o400),
        **csi_tree.version_history("api-token", [b"v2", b"v1", b"v0"]),
    }
    mount = csi_tree.write_kubelet_mount(
        tmp_path, "uid-1", "secrets-store", files, written_at=WRITTEN
    )
    snapshot = read_mount(mount, KeyedHasher.ephemeral())
    assert snapshot.exists and snapshot.written_at == WRITTEN
    assert snapshot.data_dir is not None and snapshot.data_dir.startswith("..2026_05_01_10_00_00.")
    kinds = {facts.path: facts.kind for facts in snapshot.files}
    assert kinds == {
        "api-token/0": ContentKind.OPAQUE,
        "api-token/1": ContentKind.OPAQUE,
        "api-token/2": ContentKind.OPAQUE,
        "bundle.pfx": ContentKind.PFX,
        "cert": ContentKind.CERTIFICATE,
        "db-password": ContentKind.OPAQUE,
        "signing-key": ContentKind.PUBLIC_KEY,
        "tls": ContentKind.CERTIFICATE_WITH_KEY,
    }
    modes = {facts.path: facts.mode for facts in snapshot.files}
    assert modes["tls"] == 0o440 and modes["db-password"] == 0o400 and modes["cert"] == 0o644


def test_rotation_swaps_data_and_updates_written_at(tmp_path: Path, leaf: pki.Issued) -> None:
    hasher = KeyedHasher.ephemeral()
    mount = csi_tree.write_kubelet_mount(tmp_path, "uid", "v", {"pw": b"one"}, written_at=WRITTEN)
    before = read_mount(mount, hasher)
    later = WRITTEN + dt.timedelta(hours=3)
    csi_tree.write_kubelet_mount(tmp_path, "uid", "v", {"pw": b"two"}, written_at=later)
    after = read_mount(mount, hasher)
    assert after.written_at == later
    assert before.files[0].keyed_hash != after.files[0].keyed_hash
    assert len([p for p in mount.iterdir() if p.name.startswith("..2026")]) == 1


def test_separate_crt_and_key_files(tmp_path: Path, leaf: pki.Issued) -> None:
    mount = csi_tree.write_kubelet_mount(tmp_path, "u", "v", csi_tree.separate_files("web", leaf))
    kinds = {facts.path: facts.kind for facts in read_mount(mount, KeyedHasher.ephemeral()).files}
    assert kinds == {
        "web": ContentKind.CERTIFICATE_WITH_KEY,
        "web.crt": ContentKind.CERTIFICATE,
        "web.key": ContentKind.PRIVATE_KEY,
    }


def test_symlink_outside_mount_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside-secret"
    outside.write_bytes(b"do not read")
    mount = csi_tree.write_kubelet_mount(tmp_path / "pods", "u", "v", {"ok": b"x"})
    (mount / "evil").symlink_to(outside)
    by_path = {facts.path: facts for facts in read_mount(mount, KeyedHasher.ephemeral()).files}
    assert by_path["evil"].error and "outside" in by_path["evil"].error
    assert by_path["evil"].keyed_hash == ""


def test_plain_directory_without_atomic_writer(tmp_path: Path) -> None:
    """Sidecar mode or a hand-made mount: no ``..data``; written_at from mtimes."""
    (tmp_path / "pw").write_bytes(b"x")
    os.utime(tmp_path / "pw", (WRITTEN.timestamp(), WRITTEN.timestamp()))
    snapshot = read_mount(tmp_path, KeyedHasher.ephemeral())
    assert snapshot.data_dir is None and snapshot.written_at == WRITTEN


def test_missing_mount_is_a_fact(tmp_path: Path) -> None:
    snapshot = read_mount(tmp_path / "nope", KeyedHasher.ephemeral())
    assert not snapshot.exists and snapshot.error


def test_find_mounts_and_paths(tmp_path: Path) -> None:
    csi_tree.write_kubelet_mount(tmp_path, "uid-a", "vol-1", {"a": b"1"})
    csi_tree.write_kubelet_mount(tmp_path, "uid-b", "vol-2", {"b": b"2"})
    (tmp_path / "uid-c" / "volumes" / "kubernetes.io~projected").mkdir(parents=True)
    found = [(item.pod_uid, item.volume) for item in find_csi_mounts(tmp_path)]
    assert found == [("uid-a", "vol-1"), ("uid-b", "vol-2")]
    assert kubelet_mount_path(tmp_path, "uid-a", "vol-1") == csi_tree.mount_dir(
        tmp_path, "uid-a", "vol-1"
    )
    node_path = "/var/lib/kubelet/pods/uid-a/volumes/kubernetes.io~csi/vol-1/mount"
    assert host_path_under_root(node_path, tmp_path) == csi_tree.mount_dir(
        tmp_path, "uid-a", "vol-1"
    )
    assert parse_data_dir_time("..2026_05_01_10_00_00.42") == WRITTEN
    assert parse_data_dir_time("..data") is None


def test_fifo_loop_and_oversized_file_never_hang_or_crash(tmp_path: Path) -> None:
    from agent.secrets.mounts import MAX_FILE_BYTES

    mount = csi_tree.write_kubelet_mount(tmp_path, "u", "v", {"ok": b"x"})
    os.mkfifo(mount / "pipe")  # would block a naive open()
    (mount / "loop-a").symlink_to("loop-b")
    (mount / "loop-b").symlink_to("loop-a")
    (mount / "big").write_bytes(b"\0" * (MAX_FILE_BYTES + 1))
    by_path = {facts.path: facts for facts in read_mount(mount, KeyedHasher.ephemeral()).files}
    assert "pipe" not in by_path
    assert by_path["loop-a"].error and by_path["loop-b"].error
    assert (
        by_path["big"].error
        and by_path["big"].keyed_hash == ""
        and by_path["big"].size == MAX_FILE_BYTES + 1
    )
    assert by_path["ok"].kind is ContentKind.OPAQUE
