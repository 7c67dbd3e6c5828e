"""`cryptoscope report keys`: key-management evidence for PCI DSS 3.6/3.7 (and 4.2.1.1).

Per Key Vault object: its versions with dates, expiry, rotation policy, HSM backing,
the identities that read it and where it is mounted; per mount: what each pod has on
disk (kind, mode, key and certificate facts — never a value) and whether it is the
version Key Vault says is current. Built from the ``current_*`` views of migration 3.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from datetime import datetime
from typing import Any

from agent.store import Store, parse_utc_text
from inspector.reports.cli_support import (
    add_as_of_argument,
    add_output_arguments,
    as_of,
    emit,
    reading,
)
from inspector.reports.common import source_facts
from inspector.reports.model import Report, Section

KEYS_SECTIONS = ("vault_objects", "versions", "mounted_objects", "mounted_files", "findings")
_KEY_RULE_SUBJECTS = ("secret_mount", "secret_object", "vault_object")


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _rotation(row: dict[str, Any]) -> str:
    if row["error_kind"]:
        return "unknown"
    if row["object_type"] == "secret":
        return "n/a (secret)"
    if not row["rotates"]:
        return "none"
    if row["object_type"] == "key":
        parts = [
            f"rotate after {row['rotation_time_after_create']}"
            if row["rotation_time_after_create"]
            else "",
            f"rotate {row['rotation_time_before_expiry']} before expiry"
            if row["rotation_time_before_expiry"]
            else "",
            f"versions expire after {row['rotation_expires_in']}"
            if row["rotation_expires_in"]
            else "",
        ]
        return "; ".join(part for part in parts if part) or "rotate"
    if row["renew_lifetime_percentage"]:
        return f"auto-renew at {row['renew_lifetime_percentage']}% of lifetime"
    if row["renew_days_before_expiry"]:
        return f"auto-renew {row['renew_days_before_expiry']} days before expiry"
    return "auto-renew"


def _identity(row: dict[str, Any]) -> str:
    mode = row["identity_mode"] or "unknown"
    principal = row.get("identity_principal") or row.get("credential_secret")
    return f"{mode} {principal}" if principal else mode


def _usage(store: Store) -> dict[str, dict[str, set[str]]]:
    """vault object key → {"read_by": identities, "mounted_in": places, "mounted_versions": versions}."""
    usage: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in store.db.query(
        "SELECT o.vault_object_key, o.namespace, o.pod, o.volume, o.node, o.object_alias, o.object_name,"
        " o.mounted_version, o.mounted_versions, m.identity_mode, m.identity_principal, m.credential_secret, m.service_account"
        " FROM current_secret_objects o JOIN current_secret_mounts m ON m.mount_observation_id = o.mount_observation_id"
        " WHERE o.vault_object_key IS NOT NULL"
    ):
        entry = usage[row["vault_object_key"]]
        who = _identity(row)
        if row["service_account"]:
            who += f" (service account {row['namespace']}/{row['service_account']})"
        entry["read_by"].add(who)
        entry["mounted_in"].add(
            f"{row['namespace']}/{row['pod']}:{row['volume']}/{row['object_alias'] or row['object_name']}"
        )
        if row["mounted_version"]:
            entry["mounted_versions"].add(row["mounted_version"])
        for item in json.loads(
            row["mounted_versions"] or "[]"
        ):  # version history: alias/0, alias/1, ...
            entry["mounted_versions"].add(item["version"])
    return usage


def _open_findings(store: Store) -> dict[str, list[str]]:
    by_subject: dict[str, list[str]] = defaultdict(list)
    for row in store.db.query(
        "SELECT subject_key, rule_id, status FROM current_findings WHERE subject_type IN (?, ?, ?)"
        " ORDER BY rule_id",
        list(_KEY_RULE_SUBJECTS),
    ):
        by_subject[row["subject_key"]].append(
            row["rule_id"] + (" (waived)" if row["status"] == "waived" else "")
        )
    return by_subject


def _vault_objects(
    store: Store,
    usage: dict[str, dict[str, set[str]]],
    findings: dict[str, list[str]],
    now: datetime,
) -> Section:
    rows: list[dict[str, Any]] = []
    for row in store.db.query(
        "SELECT * FROM current_vault_objects ORDER BY vault_name, object_type, object_name"
    ):
        latest = store.db.execute(
            "SELECT enabled, created_on, expires_on, key_type, key_bits FROM current_vault_object_versions"
            " WHERE subject_key = ? AND version = ?",
            [row["subject_key"], row["latest_version"]],
        ).fetchone()
        entry = usage.get(row["subject_key"], {})
        expires = latest[2] if latest else None
        rows.append(
            {
                "vault": row["vault_name"],
                "type": row["object_type"],
                "name": row["object_name"],
                "versions": row["version_count"],
                "latest_version": row["latest_version"],
                "latest_created": latest[1] if latest else None,
                "latest_expires": expires,
                "latest_enabled": _flag(latest[0]) if latest else None,
                "days_to_expiry": (parse_utc_text(expires) - now).days if expires else None,
                "key": f"{latest[3]} {latest[4] or ''}".strip() if latest and latest[3] else None,
                "hsm_backed": _flag(row["hsm_backed"]),
                "rotation_policy": _rotation(row),
                "read_by": sorted(entry.get("read_by", ())),
                "mounted_in": sorted(entry.get("mounted_in", ())),
                "metadata_status": (
                    f"{row['error_kind']} {row['error_status'] or ''}".strip()
                    if row["error_kind"]
                    else "ok"
                ),
                "findings": findings.get(row["subject_key"], []),
                "fetched_at": row["fetched_at"],
            }
        )
    return Section(
        "vault_objects",
        "Key Vault objects (3.6.1, 3.7.4, 3.7.5)",
        (
            "vault",
            "type",
            "name",
            "versions",
            "latest_version",
            "latest_created",
            "latest_expires",
            "latest_enabled",
            "days_to_expiry",
            "key",
            "hsm_backed",
            "rotation_policy",
            "read_by",
            "mounted_in",
            "metadata_status",
            "findings",
            "fetched_at",
        ),
        rows,
        "Every Key Vault object a covered pod mounts, read as metadata only (versions, dates, policies);"
        " no secret value is ever requested.",
    )


def _versions(store: Store, usage: dict[str, dict[str, set[str]]]) -> Section:
    rows: list[dict[str, Any]] = []
    for row in store.db.query(
        "SELECT * FROM current_vault_object_versions ORDER BY vault_name, object_type, object_name,"
        " created_on DESC, version"
    ):
        mounted = row["version"] in usage.get(row["subject_key"], {}).get("mounted_versions", set())
        rows.append(
            {
                "vault": row["vault_name"],
                "type": row["object_type"],
                "name": row["object_name"],
                "version": row["version"],
                "enabled": _flag(row["enabled"]),
                "created": row["created_on"],
                "updated": row["updated_on"],
                "not_before": row["not_before"],
                "expires": row["expires_on"],
                "x5t_sha1": row["x509_thumbprint"],
                "key_type": row["key_type"],
                "key_bits": row["key_bits"],
                "content_type": row["content_type"],
                "recovery_level": row["recovery_level"],
                "mounted": mounted,
            }
        )
    return Section(
        "versions",
        "Versions with dates (3.7.4 cryptoperiods, 3.7.5 retired versions)",
        (
            "vault",
            "type",
            "name",
            "version",
            "enabled",
            "created",
            "updated",
            "not_before",
            "expires",
            "x5t_sha1",
            "key_type",
            "key_bits",
            "content_type",
            "recovery_level",
            "mounted",
        ),
        rows,
        "Newest first. `mounted` marks a version some covered pod has on disk now.",
    )


def _mounted_objects(store: Store, findings: dict[str, list[str]]) -> Section:
    rows: list[dict[str, Any]] = []
    for row in store.db.query(
        "SELECT o.*, m.written_at, m.credential_secret FROM current_secret_objects o"
        " JOIN current_secret_mounts m ON m.mount_observation_id = o.mount_observation_id"
        " ORDER BY o.namespace, o.pod, o.volume, o.object_type, o.object_name"
    ):
        rows.append(
            {
                "namespace": row["namespace"],
                "pod": row["pod"],
                "node": row["node"],
                "volume": row["volume"],
                "secret_provider_class": row["secret_provider_class"],
                "vault": row["keyvault_name"],
                "identity": _identity(row),
                "type": row["object_type"],
                "name": row["object_name"],
                "file": row["object_alias"] or row["object_name"],
                "file_permission": row["file_permission"],
                "pinned_version": row["object_version"] if row["pinned"] else None,
                "mounted_version": row["mounted_version"],
                "latest_version": row["latest_version"],
                "is_latest": _flag(row["is_latest"]),
                "enabled": _flag(row["enabled"]),
                "expires": row["expires_on"],
                "age_days": row["age_days"],
                "cryptoperiod_days": row["cryptoperiod_days"],
                "thumbprint_match": _flag(row["thumbprint_match"]),
                "synced_to": json.loads(row["synced_to"] or "[]"),
                "written_at": row["written_at"],
                "findings": findings.get(row["subject_key"], []),
            }
        )
    return Section(
        "mounted_objects",
        "Where each object is mounted, and whether it is current",
        (
            "namespace",
            "pod",
            "node",
            "volume",
            "secret_provider_class",
            "vault",
            "identity",
            "type",
            "name",
            "file",
            "file_permission",
            "pinned_version",
            "mounted_version",
            "latest_version",
            "is_latest",
            "enabled",
            "expires",
            "age_days",
            "cryptoperiod_days",
            "thumbprint_match",
            "synced_to",
            "written_at",
            "findings",
        ),
        rows,
        "Mounted version from the SecretProviderClassPodStatus; latest, enabled and expiry from Key Vault.",
    )


def _keys_text(text: str | None) -> str:
    keys = json.loads(text or "[]")
    return ", ".join(
        (
            "encrypted"
            if key["encrypted"]
            else f"{key['type']} {key['bits']}" + (f" {key['curve']}" if key["curve"] else "")
        )
        for key in keys
    )


#: Current files, each with the first cycle that saw its exact content (keyed hash) at that path.
_FILES_SQL = """
SELECT f.*, (
    SELECT min(o.observed_at) FROM secret_files f2
    JOIN secret_mount_observations o ON o.id = f2.mount_observation_id
    WHERE o.mount_id = f.mount_id AND f2.path = f.path AND f2.keyed_hash = f.keyed_hash
) AS content_first_seen
FROM (
    SELECT cf.*, cm.mount_id FROM current_secret_files cf
    JOIN current_secret_mounts cm ON cm.mount_observation_id = cf.mount_observation_id
) f
ORDER BY f.namespace, f.pod, f.volume, f.path
"""


def _mounted_files(store: Store) -> Section:
    rows = [
        {
            "namespace": row["namespace"],
            "pod": row["pod"],
            "volume": row["volume"],
            "path": row["path"],
            "kind": row["kind"],
            "mode": row["mode"],
            "size": row["size"],
            "private_keys": _keys_text(row["private_keys"]),
            "public_keys": _keys_text(row["public_keys"]),
            "certificates": row["certificate_count"],
            "leaf_subject": row["leaf_subject"],
            "leaf_not_after": row["leaf_not_after"],
            "leaf_sha256": row["leaf_sha256"],
            "content_first_seen": row["content_first_seen"],
            "error": row["error"],
        }
        for row in store.db.query(_FILES_SQL)
    ]
    return Section(
        "mounted_files",
        "Files in the mounts (facts only)",
        (
            "namespace",
            "pod",
            "volume",
            "path",
            "kind",
            "mode",
            "size",
            "private_keys",
            "public_keys",
            "certificates",
            "leaf_subject",
            "leaf_not_after",
            "leaf_sha256",
            "content_first_seen",
            "error",
        ),
        rows,
        "Classified by content. Private keys are described by type and size; values are never read into"
        " the database. `content_first_seen`: the first cycle that saw this exact content (keyed hash)"
        " at this path — a change of value shows as a new date.",
    )


def _findings(store: Store) -> Section:
    rows = list(
        store.db.query(
            "SELECT rule_id, severity, requirements, subject_type, subject_key, message, status, first_seen, last_seen"
            " FROM current_findings WHERE subject_type IN (?, ?, ?) ORDER BY rule_id, subject_key, detail_key",
            list(_KEY_RULE_SUBJECTS),
        )
    )
    return Section(
        "findings",
        "Key-management findings",
        (
            "rule_id",
            "severity",
            "requirements",
            "subject_type",
            "subject_key",
            "message",
            "status",
            "first_seen",
            "last_seen",
        ),
        rows,
    )


def build_keys_report(store: Store, *, as_of: datetime) -> Report:
    usage = _usage(store)
    findings = _open_findings(store)
    facts = source_facts(store)
    facts["as_of"] = as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    facts["mounts_current"] = store.db.execute(
        "SELECT count(*) FROM current_secret_mounts"
    ).fetchone()[0]
    facts["vault_objects_current"] = store.db.execute(
        "SELECT count(*) FROM current_vault_objects"
    ).fetchone()[0]
    return Report(
        "Key-management evidence (PCI DSS 3.6 / 3.7)",
        facts,
        (
            _vault_objects(store, usage, findings, as_of),
            _versions(store, usage),
            _mounted_objects(store, findings),
            _mounted_files(store),
            _findings(store),
        ),
    )


def register_keys(kinds: argparse._SubParsersAction) -> None:
    """Add ``keys`` to ``cryptoscope report`` (called from :mod:`inspector.commands.report`)."""
    parser = kinds.add_parser(
        "keys",
        help="key-management evidence (3.6/3.7): Key Vault objects, versions, rotation, HSM, readers, mounts",
    )
    add_output_arguments(parser, sections=KEYS_SECTIONS)
    add_as_of_argument(parser)
    parser.set_defaults(func=run_keys)


def run_keys(args: argparse.Namespace) -> int:
    moment = as_of(args)
    with reading(args) as store:
        report = build_keys_report(store, as_of=moment)
    return emit(report, args)
