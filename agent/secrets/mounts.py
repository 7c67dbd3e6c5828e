"""Read Secrets Store CSI mounts: the kubelet tree and Kubernetes' atomic-writer layout.

DaemonSet mode: ``<root>/<pod-uid>/volumes/kubernetes.io~csi/<volume>/mount``
(root = the kubelet pods directory, mounted read-only). Sidecar mode: the path
where the shared CSI volume is mounted. Inside a mount, the driver writes
through AtomicWriter::

    mount/
      ..2026_05_01_10_00_00.123456789/   real files (the timestamp is UTC)
      ..data -> ..2026_05_01_10_00_00.123456789
      tls.crt -> ..data/tls.crt           one symlink per top-level name
      db-password -> ..data/db-password   a directory with 0, 1, ... for version history

Names starting with ``..`` are the writer's own and are skipped. Nothing is
written and no symlink leading outside the mount is followed.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent.secrets.files import KeyedHasher, classify_content
from agent.secrets.model import ContentKind, FileFacts, MountSnapshot

DATA_LINK = "..data"
CSI_PLUGIN_DIR = "kubernetes.io~csi"
#: Files larger than this are recorded as opaque without being read whole.
MAX_FILE_BYTES = 1 << 20
#: Directories deeper than this inside a mount are not descended (alias/index is depth 2).
MAX_DEPTH = 4
_TIMESTAMP_FORMAT = "%Y_%m_%d_%H_%M_%S"


@dataclass(frozen=True, slots=True)
class CsiMountLocation:
    """A CSI volume's mount directory found under the kubelet pods directory."""

    pod_uid: str
    volume: str
    path: Path


def kubelet_mount_path(root: Path, pod_uid: str, volume: str) -> Path:
    return root / pod_uid / "volumes" / CSI_PLUGIN_DIR / volume / "mount"


def host_path_under_root(
    target_path: str, root: Path, kubelet_root: str = "/var/lib/kubelet/pods"
) -> Path:
    """Map an SPCPS ``targetPath`` (a node path) to where the agent sees it (``root``)."""
    prefix = kubelet_root.rstrip("/") + "/"
    if target_path.startswith(prefix):
        return root / target_path[len(prefix) :]
    return Path(target_path)


def find_csi_mounts(root: Path) -> Iterator[CsiMountLocation]:
    """Every ``<uid>/volumes/kubernetes.io~csi/<volume>/mount`` under the kubelet pods directory."""
    try:
        pods = sorted(os.scandir(root), key=lambda entry: entry.name)
    except OSError:
        return
    for pod in pods:
        csi_dir = Path(pod.path) / "volumes" / CSI_PLUGIN_DIR
        try:
            volumes = sorted(os.scandir(csi_dir), key=lambda entry: entry.name)
        except OSError:
            continue
        for volume in volumes:
            mount = Path(volume.path) / "mount"
            if mount.is_dir():
                yield CsiMountLocation(pod.name, volume.name, mount)


def parse_data_dir_time(name: str) -> dt.datetime | None:
    """``..2026_05_01_10_00_00.123456789`` → 2026-05-01 10:00:00 UTC."""
    if not name.startswith(".."):
        return None
    stamp = name[2:].split(".", 1)[0]
    try:
        return dt.datetime.strptime(stamp, _TIMESTAMP_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _inside(path: Path, base: Path) -> bool:
    try:
        path.relative_to(base)
    except ValueError:
        return False
    return True


def _unreadable(relative: str, reason: str) -> FileFacts:
    """An entry whose content was not read (no kind, mode or size known): the reason only."""
    return FileFacts(
        path=relative, kind=ContentKind.EMPTY, mode=0, size=0, keyed_hash="", error=reason
    )


def _read_file(path: Path, relative: str, hasher: KeyedHasher) -> FileFacts:
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_size > MAX_FILE_BYTES:
        return FileFacts(
            path=relative,
            kind=ContentKind.OPAQUE,
            mode=mode,
            size=info.st_size,
            keyed_hash="",
            error=f"larger than {MAX_FILE_BYTES} bytes: not read",
        )
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    try:
        return classify_content(relative, data, mode=mode, hasher=hasher)
    finally:
        del data


def _walk(
    directory: Path, base: Path, prefix: str, depth: int, hasher: KeyedHasher
) -> Iterator[FileFacts]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as exc:
        yield _unreadable(prefix or ".", f"cannot list directory: {exc.strerror}")
        return
    for entry in entries:
        if entry.name.startswith(".."):
            continue
        relative = f"{prefix}{entry.name}"
        candidate = Path(entry.path)
        try:
            resolved = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            yield _unreadable(relative, "dangling or looping symlink")
            continue
        if not _inside(resolved, base):
            yield _unreadable(relative, "symlink leads outside the mount: not followed")
            continue
        if resolved.is_dir():
            if depth < MAX_DEPTH:
                yield from _walk(resolved, base, relative + "/", depth + 1, hasher)
            continue
        if not resolved.is_file():
            continue
        try:
            yield _read_file(resolved, relative, hasher)
        except OSError as exc:
            yield _unreadable(relative, f"cannot read: {exc.strerror}")


def read_mount(path: Path, hasher: KeyedHasher) -> MountSnapshot:
    """Facts about every file of one mount; a missing or unreadable mount is a recorded fact."""
    if not path.is_dir():
        return MountSnapshot(path=str(path), exists=False, error="mount directory not found")
    base = path.resolve()
    data_dir: str | None = None
    written_at: dt.datetime | None = None
    data_link = path / DATA_LINK
    if data_link.is_symlink():
        data_dir = os.readlink(data_link).rstrip("/").rsplit("/", 1)[-1]
        written_at = parse_data_dir_time(data_dir)
    files = tuple(_walk(path, base, "", 0, hasher))
    if written_at is None:
        newest = 0.0
        for entry in path.iterdir():
            try:
                newest = max(newest, entry.lstat().st_mtime)
            except OSError:
                continue
        if newest:
            written_at = dt.datetime.fromtimestamp(newest, dt.UTC)
    return MountSnapshot(
        path=str(path), exists=True, data_dir=data_dir, written_at=written_at, files=files
    )
