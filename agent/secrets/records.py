"""Write one secrets cycle into the evidence store (tables of migration ``m0003_secrets_and_key_vault``).

    result = inspector.inspect()
    covered = record_secrets(store, run_id, result)   # observations, findings, errors
    store.finish_run(run_id, covered_subject_keys=covered)

Only facts are written: identity modes, paths, modes, sizes, keyed hashes,
certificate and key facts, vault version metadata. The caller's run must exist.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from agent.secrets.inspector import MountRecord, ObjectRecord, SecretsCycleResult
from agent.secrets.model import FileFacts, KeyFacts, VaultObjectFacts
from agent.secrets.subjects import vault_object_key
from agent.store import Store, utc_text
from agent.store.store import certificate_facts


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


def _time(value: dt.datetime | None) -> str | None:
    return utc_text(value) if value is not None else None


def _keys_json(keys: tuple[KeyFacts, ...]) -> str:
    return json.dumps(
        [
            {
                "type": key.key_type,
                "bits": key.key_bits,
                "curve": key.curve,
                "spki_sha256": key.spki_sha256,
                "encrypted": key.encrypted,
            }
            for key in keys
        ]
    )


def _upsert_subject(
    conn: sqlite3.Connection, table: str, subject_key: str, columns: dict[str, object], seen: str
) -> int:
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns)
    row = conn.execute(
        f"INSERT INTO {table} (subject_key, {names}, first_seen, last_seen) VALUES (?, {marks}, ?, ?)"  # noqa: S608 - fixed names
        f" ON CONFLICT (subject_key) DO UPDATE SET {updates}, last_seen = excluded.last_seen RETURNING id",
        (subject_key, *columns.values(), seen, seen),
    ).fetchone()
    return int(row[0])


def _insert_file(
    conn: sqlite3.Connection, observation_id: int, object_id: int | None, facts: FileFacts
) -> None:
    leaf = facts.leaf
    file_id = conn.execute(
        "INSERT INTO secret_files (mount_observation_id, secret_object_id, path, kind, mode, size, keyed_hash,"
        " certificate_count, leaf_sha256, leaf_sha1, leaf_subject, leaf_not_after, private_keys, public_keys,"
        " pfx_encoding, pfx_password_protected, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            observation_id,
            object_id,
            facts.path,
            facts.kind.value,
            f"{facts.mode:04o}",
            facts.size,
            facts.keyed_hash,
            len(facts.certificates),
            leaf.sha256 if leaf else None,
            leaf.sha1 if leaf else None,
            leaf.subject if leaf else None,
            _time(leaf.not_after) if leaf else None,
            _keys_json(facts.private_keys),
            _keys_json(facts.public_keys),
            facts.pfx_encoding,
            _flag(facts.pfx_password_protected),
            facts.error,
        ),
    ).lastrowid
    conn.executemany(
        "INSERT INTO secret_file_certificates (secret_file_id, position, sha256, sha1, subject, issuer, serial,"
        " not_before, not_after, key_type, key_bits, curve, signature_algorithm, signature_hash, is_ca,"
        " self_signed, spki_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                file_id,
                position,
                *certificate_facts(cert),
                int(cert.is_ca),
                int(cert.self_signed),
                cert.spki_sha256,
            )
            for position, cert in enumerate(facts.certificates)
        ],
    )


def _insert_object(
    conn: sqlite3.Connection, observation_id: int, mount: MountRecord, item: ObjectRecord
) -> int:
    spec, comparison = item.spec, item.comparison
    vault_key = (
        vault_object_key(mount.spc.keyvault_name, spec.object_type.value, spec.object_name)
        if mount.spc is not None and mount.spc.keyvault_name
        else None
    )
    row = conn.execute(
        "INSERT INTO secret_objects (mount_observation_id, subject_key, object_type, object_name, object_alias,"
        " object_version, pinned, version_history, object_format, object_encoding, file_permission,"
        " mounted_version, mounted_versions, vault_object_key, latest_version, is_latest, stale, newer_versions,"
        " enabled, expires_on, expired, has_expiry, age_days, cryptoperiod_days, cryptoperiod_exceeded,"
        " thumbprint_match, synced_to)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            observation_id,
            item.subject_key,
            spec.object_type.value,
            spec.object_name,
            spec.object_alias or None,
            spec.object_version or None,
            int(spec.pinned),
            spec.object_version_history,
            spec.object_format,
            spec.object_encoding,
            f"{spec.file_permission:04o}",
            item.mounted_version,
            json.dumps(
                [{"index": index, "version": version} for index, version in item.mounted_versions]
            ),
            vault_key,
            comparison.latest_version if comparison else None,
            _flag(comparison.is_latest) if comparison else None,
            _flag(comparison.stale) if comparison else None,
            comparison.newer_versions if comparison else None,
            _flag(comparison.mounted_enabled) if comparison else None,
            _time(comparison.mounted_expires_on) if comparison else None,
            _flag(comparison.mounted_expired) if comparison else None,
            _flag(comparison.mounted_has_expiry) if comparison else None,
            round(comparison.age_days, 2)
            if comparison and comparison.age_days is not None
            else None,
            comparison.cryptoperiod_days if comparison else None,
            _flag(comparison.cryptoperiod_exceeded) if comparison else None,
            _flag(comparison.thumbprint_match) if comparison else None,
            json.dumps(list(item.synced_to)),
        ),
    )
    object_id = int(row.lastrowid or 0)
    for facts in item.files:
        _insert_file(conn, observation_id, object_id, facts)
    return object_id


def _insert_mount(conn: sqlite3.Connection, run_id: int, mount: MountRecord, seen: str) -> None:
    spc = mount.spc
    mount_id = _upsert_subject(
        conn,
        "secret_mounts",
        mount.subject_key,
        {
            "namespace": mount.namespace or None,
            "pod": mount.pod_name or None,
            "pod_uid": mount.pod_uid or None,
            "node": mount.node_name or None,
            "volume": mount.volume_name,
            "secret_provider_class": spc.name if spc else None,
            "keyvault_name": spc.keyvault_name if spc else None,
            "tenant_id": spc.tenant_id if spc else None,
        },
        seen,
    )
    snapshot = mount.snapshot
    synced = [
        {
            "secret": synced.secret_name,
            "type": synced.secret_type,
            "keys": [key for _, key in synced.data],
        }
        for synced in (spc.secret_objects if spc else ())
    ]
    observation_id = conn.execute(
        "INSERT INTO secret_mount_observations (run_id, mount_id, identity_mode, identity_principal,"
        " credential_secret, service_account, path, present, spcps_mounted, data_dir, written_at, file_count,"
        " error, problems, synced_secrets, observed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            run_id,
            mount_id,
            mount.identity.mode.value,
            mount.identity.principal or None,
            mount.identity.credential_secret or None,
            mount.service_account or None,
            snapshot.path,
            int(snapshot.exists),
            _flag(mount.status.mounted) if mount.status else None,
            snapshot.data_dir,
            _time(snapshot.written_at),
            len(snapshot.files),
            snapshot.error,
            json.dumps(list(spc.problems) if spc else []),
            json.dumps(synced),
            seen,
        ),
    ).lastrowid
    assert observation_id is not None
    for item in mount.objects:
        _insert_object(conn, observation_id, mount, item)
    for facts in mount.unmatched_files:
        _insert_file(conn, observation_id, None, facts)


def _insert_vault_object(
    conn: sqlite3.Connection, run_id: int, facts: VaultObjectFacts, seen: str
) -> None:
    key = vault_object_key(facts.vault_name, facts.object_type.value, facts.object_name)
    vault_object_id = _upsert_subject(
        conn,
        "vault_objects",
        key,
        {
            "vault_name": facts.vault_name,
            "vault_url": facts.vault_url or None,
            "object_type": facts.object_type.value,
            "object_name": facts.object_name,
        },
        seen,
    )
    policy, error = facts.rotation_policy, facts.error
    observation_id = conn.execute(
        "INSERT INTO vault_object_observations (run_id, vault_object_id, fetched_at, latest_version, version_count,"
        " truncated, hsm_backed, rotates, rotation_time_after_create, rotation_time_before_expiry,"
        " rotation_expires_in, renew_lifetime_percentage, renew_days_before_expiry, policy_actions, error_kind,"
        " error_status, retry_after_s, error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (run_id, vault_object_id) DO NOTHING",
        (
            run_id,
            vault_object_id,
            _time(facts.fetched_at) or seen,
            facts.latest.version if facts.latest else None,
            len(facts.versions),
            int(facts.truncated),
            _flag(facts.hsm_backed),
            _flag(policy.rotates) if policy else None,
            policy.time_after_create if policy else None,
            policy.time_before_expiry if policy else None,
            policy.expires_in if policy else None,
            policy.lifetime_percentage if policy else None,
            policy.days_before_expiry if policy else None,
            json.dumps(list(policy.actions) if policy else []),
            error.kind if error else None,
            error.status if error else None,
            error.retry_after_s if error else None,
            error.message if error else None,
        ),
    ).lastrowid
    if not observation_id:
        return
    conn.executemany(
        "INSERT OR IGNORE INTO vault_object_versions (observation_id, version, enabled, created_on, updated_on,"
        " not_before, expires_on, x509_thumbprint, key_type, key_bits, curve, content_type, managed,"
        " recovery_level) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                observation_id,
                version.version,
                _flag(version.enabled),
                _time(version.created_on),
                _time(version.updated_on),
                _time(version.not_before),
                _time(version.expires_on),
                version.x509_thumbprint,
                version.key_type,
                version.key_bits,
                version.curve,
                version.content_type,
                _flag(version.managed),
                version.recovery_level,
            )
            for version in facts.versions
        ],
    )


def record_secrets(
    store: Store, run_id: int, result: SecretsCycleResult, *, seen_at: dt.datetime | None = None
) -> tuple[str, ...]:
    """Write mounts, objects, files, vault metadata, findings and errors; returns the covered subject keys."""
    seen = utc_text(seen_at or result.started_at)
    with store.transaction() as conn:
        for mount in result.mounts:
            _insert_mount(conn, run_id, mount, seen)
        for facts in result.vault_objects:
            _insert_vault_object(conn, run_id, facts, seen)
    if result.findings:
        store.record_findings(run_id, result.findings, seen_at=seen_at or result.started_at)
    for line in result.errors:
        store.record_error(run_id, line, stage="secrets")
    for facts in result.vault_objects:
        if facts.error is not None:
            store.record_error(
                run_id,
                f"{facts.error.kind}{f' {facts.error.status}' if facts.error.status else ''}: {facts.error.message}",
                stage="keyvault",
                subject_key=vault_object_key(
                    facts.vault_name, facts.object_type.value, facts.object_name
                ),
            )
    return result.covered_subject_keys
