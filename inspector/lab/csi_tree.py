"""Kubelet directory trees with Secrets Store CSI mounts, in the real atomic-writer layout.

Builds what the driver leaves on a node::

    <root>/<pod-uid>/volumes/kubernetes.io~csi/<volume>/mount/
        ..2026_05_01_10_00_00.123456789/<files>     (timestamp = UTC write time)
        ..data -> ..2026_05_01_10_00_00.123456789
        <name> -> ..data/<name>                     (one symlink per top-level name)

and the payloads the Azure provider writes per object type (see the reference,
"What lands on disk per objectType"): ``cert`` → the leaf PEM; ``key`` → a
PUBLIC KEY PEM; ``secret`` backed by a certificate → private key (PKCS#8) first,
then the chain; ``objectFormat: pfx`` → base64 text of the PFX; plain secrets
as stored. Test and demo material only.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from inspector.lab.pki import Issued

#: A file's content, or (content, mode).
FileSpec = bytes | tuple[bytes, int]
DEFAULT_MODE = 0o644


def mount_dir(root: Path, pod_uid: str, volume: str) -> Path:
    return root / pod_uid / "volumes" / "kubernetes.io~csi" / volume / "mount"


def _data_dir_name(written_at: dt.datetime) -> str:
    stamp = written_at.astimezone(dt.UTC).strftime("%Y_%m_%d_%H_%M_%S")
    return f"..{stamp}.{secrets.randbelow(10**9):09d}"


def write_atomic(
    target: Path, files: Mapping[str, FileSpec], *, written_at: dt.datetime | None = None
) -> Path:
    """Write `files` into `target` the way AtomicWriter does; replaces a previous payload.

    Names may contain one ``/`` (version history: ``alias/0``, ``alias/1``); the
    top-level symlink then points at the directory. Returns the timestamped directory.
    """
    target.mkdir(parents=True, exist_ok=True)
    written_at = written_at or dt.datetime.now(dt.UTC)
    data_dir = target / _data_dir_name(written_at)
    data_dir.mkdir()
    top_level: set[str] = set()
    for name, spec in files.items():
        content, mode = spec if isinstance(spec, tuple) else (spec, DEFAULT_MODE)
        path = data_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
        top_level.add(name.split("/", 1)[0])
    os.utime(data_dir, (written_at.timestamp(), written_at.timestamp()))
    data_link = target / "..data"
    previous = os.readlink(data_link) if data_link.is_symlink() else None
    temporary = target / "..data_tmp"
    if temporary.is_symlink():
        temporary.unlink()
    temporary.symlink_to(data_dir.name)
    temporary.replace(data_link)
    for name in top_level:
        link = target / name
        if not link.is_symlink():
            link.symlink_to(f"..data/{name}")
    for entry in target.iterdir():  # names no longer in the payload
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in top_level:
            entry.unlink()
    if previous and previous != data_dir.name:
        shutil.rmtree(target / previous, ignore_errors=True)
    return data_dir


def write_kubelet_mount(
    root: Path,
    pod_uid: str,
    volume: str,
    files: Mapping[str, FileSpec],
    *,
    written_at: dt.datetime | None = None,
) -> Path:
    """A CSI mount under a kubelet pods directory; returns the mount directory."""
    target = mount_dir(root, pod_uid, volume)
    write_atomic(target, files, written_at=written_at)
    return target


# --- payloads, as the Azure provider writes them -------------------------------------------------


def cert_object(leaf: Issued) -> bytes:
    """``objectType: cert``: the leaf certificate only."""
    return leaf.cert_pem


def key_object(issued_or_key: Issued | object) -> bytes:
    """``objectType: key``: the public key as a PKIX PEM."""
    key = issued_or_key.key if isinstance(issued_or_key, Issued) else issued_or_key
    return key.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pem_secret_with_key(leaf: Issued, chain: tuple[Issued, ...] = ()) -> bytes:
    """Certificate-backed ``objectType: secret``: PKCS#8 private key first, then leaf and chain."""
    return leaf.key_pem + leaf.cert_pem + b"".join(item.cert_pem for item in chain)


def pfx_bytes(leaf: Issued, chain: tuple[Issued, ...] = (), password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"lab",
        leaf.key,
        leaf.certificate,
        [item.certificate for item in chain] or None,
        encryption,
    )


def pfx_secret(leaf: Issued, chain: tuple[Issued, ...] = (), *, decoded: bool = False) -> bytes:
    """``objectFormat: pfx``: base64 text of the PFX (or raw DER with ``objectEncoding: base64``)."""
    der = pfx_bytes(leaf, chain)
    return der if decoded else base64.b64encode(der)


def separate_files(name: str, leaf: Issued, chain: tuple[Issued, ...] = ()) -> dict[str, bytes]:
    """``--write-cert-and-key-in-separate-files``: ``<name>``, ``<name>.crt`` and ``<name>.key``."""
    return {
        name: pem_secret_with_key(leaf, chain),
        f"{name}.crt": leaf.cert_pem + b"".join(item.cert_pem for item in chain),
        f"{name}.key": leaf.key_pem,
    }


def version_history(
    alias: str, values: list[bytes], mode: int = DEFAULT_MODE
) -> dict[str, FileSpec]:
    """``objectVersionHistory``: ``alias/0`` (latest) ... ``alias/N-1``."""
    return {f"{alias}/{index}": (value, mode) for index, value in enumerate(values)}
