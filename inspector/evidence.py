"""Evidence snapshots: export a consistent copy with a manifest, sign it, verify it.

A snapshot directory holds::

    cryptoscope.db          VACUUM INTO copy (rollback-journal mode, opens in plain sqlite3)
    manifest.json           tool and schema versions, scope, runs' time window, row counts, SHA-256
    manifest.json.sig       detached Ed25519 signature of manifest.json (base64), when signed

The manifest carries the database's SHA-256, so the signature over the
manifest covers the database too. Keys are PEM files made by
:func:`generate_key_pair`; only the public key's fingerprint is ever written
into evidence.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent import __version__
from agent.store import Store, schema_version, utc_text
from agent.store.schema import MIGRATION_SET

SNAPSHOT_NAME = "cryptoscope.db"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.json.sig"
MANIFEST_FORMAT = "cryptoscope-evidence/1"


class EvidenceError(Exception):
    """Export or key handling cannot proceed; the message says why and nothing was left half-written."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- keys


def public_key_fingerprint(key: Ed25519PublicKey) -> str:
    """SHA-256 of the SubjectPublicKeyInfo DER, hex."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def generate_key_pair(private_path: Path, public_path: Path) -> str:
    """Write a new Ed25519 key pair (private key mode 0600); return the public key's fingerprint."""
    for path in (private_path, public_path):
        if path.exists():
            raise EvidenceError(f"{path} exists; refusing to overwrite a key")
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)
    return public_key_fingerprint(key.public_key())


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read signing key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise EvidenceError(f"{path} is not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise EvidenceError(
            f"{path} is a {type(key).__name__.lstrip('_')}; signing needs an Ed25519 key"
        )
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read public key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise EvidenceError(f"{path} is not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"{path} is not an Ed25519 public key")
    return key


# ---------------------------------------------------------------------------------------------- export


def _table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    return {name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names}


def _describe(conn: sqlite3.Connection) -> dict[str, Any]:
    runs = conn.execute(
        "SELECT count(*), min(started_at), max(coalesce(finished_at, started_at)) FROM runs"
    ).fetchone()
    agents = [
        {"agent_id": row[0], "node": row[1], "mode": row[2], "scope": row[3], "runs": row[4]}
        for row in conn.execute(
            "SELECT agent_id, node, mode, scope, count(*) FROM runs GROUP BY agent_id, node, mode, scope"
            " ORDER BY agent_id, node"
        )
    ]
    migrations = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
            [MIGRATION_SET],
        )
    ]
    return {
        "schema": {"version": len(migrations), "migrations": migrations},
        "scope": {"agents": agents},
        "runs": {"count": runs[0], "from": runs[1], "to": runs[2]},
        "row_counts": _table_counts(conn),
    }


@dataclasses.dataclass(frozen=True, slots=True)
class ExportResult:
    directory: Path
    database: Path
    manifest: Path
    signature: Path | None
    sha256: str


def export_snapshot(
    db_path: Path, out_dir: Path, *, sign_key: Path | None = None, now: datetime | None = None
) -> ExportResult:
    """Copy ``db_path`` consistently (even while an agent writes) into ``out_dir`` with a manifest."""
    key = load_private_key(sign_key) if sign_key else None  # fail before writing anything
    with Store.open(db_path, readonly=True) as source:
        out_dir.mkdir(parents=True, exist_ok=True)
        targets = [out_dir / SNAPSHOT_NAME, out_dir / MANIFEST_NAME, out_dir / SIGNATURE_NAME]
        existing = [str(path) for path in targets if path.exists()]
        if existing:
            raise EvidenceError(
                f"{out_dir} already holds a snapshot ({', '.join(existing)}); use a new directory"
            )
        partial = out_dir / f".{SNAPSHOT_NAME}.partial"
        partial.unlink(missing_ok=True)
        try:
            source.db.execute("VACUUM INTO ?", [str(partial)])
            conn = sqlite3.connect(partial)
            try:
                conn.execute("PRAGMA journal_mode = DELETE")
                check = conn.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise EvidenceError(f"the snapshot failed integrity_check: {check}")
                description = _describe(conn)
            finally:
                conn.close()
            database = out_dir / SNAPSHOT_NAME
            partial.replace(database)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    digest = sha256_file(database)
    manifest: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "tool": {"name": "cryptoscope", "version": __version__},
        "created_at": utc_text(now),
        "source": {"file_name": db_path.name},
        **description,
        "database": {"file": SNAPSHOT_NAME, "sha256": digest, "size": database.stat().st_size},
        "signature": (
            {
                "algorithm": "Ed25519",
                "file": SIGNATURE_NAME,
                "public_key_sha256": public_key_fingerprint(key.public_key()),
            }
            if key
            else None
        ),
    }
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    manifest_path = out_dir / MANIFEST_NAME
    manifest_path.write_bytes(manifest_bytes)
    signature_path = None
    if key:
        signature_path = out_dir / SIGNATURE_NAME
        signature_path.write_bytes(base64.b64encode(key.sign(manifest_bytes)) + b"\n")
    return ExportResult(out_dir, database, manifest_path, signature_path, digest)


# ---------------------------------------------------------------------------------------------- verify


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    name: str
    #: "pass", "fail" or "skipped"
    outcome: str
    detail: str


def _manifest(directory: Path) -> tuple[bytes | None, Mapping[str, Any] | None, str]:
    path = directory / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, None, f"cannot read {path}: {exc.strerror}"
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return data, None, f"{path} is not valid JSON ({exc})"
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        return data, None, f"{path} is not a {MANIFEST_FORMAT} manifest"
    for field in ("database", "row_counts", "schema"):
        if not isinstance(manifest.get(field), dict):
            return data, None, f"{path} lacks the {field!r} section"
    return data, manifest, f"{MANIFEST_FORMAT}, created {manifest.get('created_at')}"


def verify_snapshot(directory: Path, *, public_key: Path | None = None) -> list[Check]:
    """Check a snapshot directory; every check is reported, failed ones say why."""
    checks: list[Check] = []
    manifest_bytes, manifest, detail = _manifest(directory)
    checks.append(Check("manifest", "pass" if manifest else "fail", detail))

    # signature (over the manifest bytes, which carry the database hash)
    signature_path = directory / SIGNATURE_NAME
    if public_key is None:
        detail = (
            "present but not checked: give --public-key"
            if signature_path.exists()
            else "snapshot is not signed"
        )
        checks.append(Check("signature", "skipped", detail))
    elif manifest_bytes is None:
        checks.append(Check("signature", "fail", "no manifest to check the signature of"))
    elif not signature_path.exists():
        checks.append(Check("signature", "fail", f"{SIGNATURE_NAME} missing"))
    else:
        key = load_public_key(public_key)
        try:
            key.verify(
                base64.b64decode(signature_path.read_bytes().strip(), validate=True), manifest_bytes
            )
            checks.append(
                Check(
                    "signature", "pass", f"Ed25519, key sha256 {public_key_fingerprint(key)[:16]}…"
                )
            )
        except (InvalidSignature, ValueError):
            checks.append(
                Check(
                    "signature", "fail", "signature does not match the manifest and this public key"
                )
            )

    database = directory / (
        str(manifest["database"].get("file", SNAPSHOT_NAME)) if manifest else SNAPSHOT_NAME
    )
    if database.name != SNAPSHOT_NAME or not database.is_file():
        checks.append(Check("database hash", "fail", f"{directory / SNAPSHOT_NAME} missing"))
        return checks
    digest = sha256_file(database)
    if manifest is None:
        checks.append(Check("database hash", "fail", "no manifest to compare the SHA-256 with"))
    elif digest == manifest["database"].get("sha256"):
        checks.append(Check("database hash", "pass", f"sha256 {digest}"))
    else:
        checks.append(
            Check(
                "database hash",
                "fail",
                f"sha256 {digest} != manifest {manifest['database'].get('sha256')}",
            )
        )

    try:
        conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            result = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            checks.append(
                Check("integrity", "pass" if result == ["ok"] else "fail", "; ".join(result)[:300])
            )
            migrations = [
                row[0]
                for row in conn.execute(
                    "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
                    [MIGRATION_SET],
                )
            ]
            counts = _table_counts(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        checks.append(Check("integrity", "fail", f"not a readable SQLite database: {exc}"))
        return checks
    if len(migrations) > schema_version():
        checks.append(
            Check(
                "schema",
                "fail",
                f"schema version {len(migrations)} is newer than this tool's {schema_version()}",
            )
        )
    elif manifest and manifest["schema"].get("migrations") != migrations:
        checks.append(Check("schema", "fail", "migrations differ from the manifest"))
    else:
        checks.append(Check("schema", "pass", f"version {len(migrations)}"))
    if manifest is None:
        checks.append(Check("row counts", "fail", "no manifest to compare with"))
    elif counts == manifest["row_counts"]:
        checks.append(
            Check("row counts", "pass", f"{len(counts)} tables, {sum(counts.values())} rows")
        )
    else:
        differing = sorted(
            name
            for name in set(counts) | set(manifest["row_counts"])
            if counts.get(name) != manifest["row_counts"].get(name)
        )
        checks.append(
            Check("row counts", "fail", f"differ from the manifest in {', '.join(differing)}")
        )
    return checks
