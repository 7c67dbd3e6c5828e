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
from collections.abc import Callable, Mapping
from datetime import datetime
from operator import itemgetter
from typing import Any

from agent.store import Store, parse_utc_text
from inspector.reports.cli_support import (
    add_as_of_argument,
    add_output_arguments,
    as_of,
    emit,
    reading,
)
from inspector.reports.common import days_left, source_facts
from inspector.reports.model import Column, Report, Section, select_list, shape

KEYS_SECTIONS = ("vault_objects", "versions", "mounted_objects", "mounted_files", "findings")
_KEY_RULE_SUBJECTS = ("secret_mount", "secret_object", "vault_object")


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _rotation(row: Mapping[str, Any]) -> str:
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


def _identity(row: Mapping[str, Any]) -> str:
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


def _metadata_status(row: Mapping[str, Any]) -> str:
    if row["error_kind"]:
        return f"{row['error_kind']} {row['error_status'] or ''}".strip()
    return "ok"


def _latest_key(row: Mapping[str, Any]) -> str | None:
    if not row["latest_key_type"]:
        return None
    return f"{row['latest_key_type']} {row['latest_key_bits'] or ''}".strip()


def _usage_of(field: str) -> Callable[[Mapping[str, Any]], list[str]]:
    return lambda row: sorted(row["usage"].get(field, ()))


def _flag_of(field: str) -> Callable[[Mapping[str, Any]], bool | None]:
    return lambda row: _flag(row[field])


#: Source row: ``current_vault_objects`` with its latest version's ``latest_*`` facts, plus
#: ``days_to_expiry``, ``usage`` and ``findings`` added by the builder.
VAULT_OBJECT_COLUMNS = (
    Column("vault", value=itemgetter("vault_name")),
    Column("type", value=itemgetter("object_type")),
    Column("name", value=itemgetter("object_name")),
    Column("versions", value=itemgetter("version_count")),
    Column("latest_version"),
    Column("latest_created"),
    Column("latest_expires"),
    Column("latest_enabled", value=_flag_of("latest_enabled")),
    Column("days_to_expiry"),
    Column("key", value=_latest_key),
    Column("hsm_backed", value=_flag_of("hsm_backed")),
    Column("rotation_policy", value=_rotation),
    Column("read_by", value=_usage_of("read_by")),
    Column("mounted_in", value=_usage_of("mounted_in")),
    Column("metadata_status", value=_metadata_status),
    Column("findings"),
    Column("fetched_at"),
)

#: Every current object with its latest version, in one query (the versions' primary key is
#: (observation_id, version)).
_VAULT_OBJECTS_SQL = """
SELECT cv.*, ver.enabled AS latest_enabled, ver.created_on AS latest_created,
       ver.expires_on AS latest_expires, ver.key_type AS latest_key_type, ver.key_bits AS latest_key_bits
FROM current_vault_objects cv
LEFT JOIN vault_object_versions ver
  ON ver.observation_id = cv.observation_id AND ver.version = cv.latest_version
ORDER BY cv.vault_name, cv.object_type, cv.object_name
"""


def _vault_objects(
    store: Store,
    usage: dict[str, dict[str, set[str]]],
    findings: dict[str, list[str]],
    now: datetime,
) -> Section:
    rows: list[dict[str, Any]] = []
    for row in store.db.query(_VAULT_OBJECTS_SQL):
        expires = row["latest_expires"]
        row["days_to_expiry"] = days_left(parse_utc_text(expires), now) if expires else None
        row["usage"] = usage.get(row["subject_key"], {})
        row["findings"] = findings.get(row["subject_key"], [])
        rows.append(shape(VAULT_OBJECT_COLUMNS, row))
    return Section.of(
        "vault_objects",
        "Key Vault objects (3.6.1, 3.7.4, 3.7.5)",
        VAULT_OBJECT_COLUMNS,
        rows,
        "Every Key Vault object a covered pod mounts, read as metadata only (versions, dates, policies);"
        " no secret value is ever requested.",
    )


#: Source row: ``current_vault_object_versions`` plus ``mounted`` added by the builder.
VERSION_COLUMNS = (
    Column("vault", "vault_name"),
    Column("type", "object_type"),
    Column("name", "object_name"),
    Column("version", "version"),
    Column("enabled", "enabled", _flag_of("enabled")),
    Column("created", "created_on"),
    Column("updated", "updated_on"),
    Column("not_before", "not_before"),
    Column("expires", "expires_on"),
    Column("x5t_sha1", "x509_thumbprint"),
    Column("key_type", "key_type"),
    Column("key_bits", "key_bits"),
    Column("content_type", "content_type"),
    Column("recovery_level", "recovery_level"),
    Column("mounted"),
)


def _versions(store: Store, usage: dict[str, dict[str, set[str]]]) -> Section:
    rows: list[dict[str, Any]] = []
    for row in store.db.query(
        f"SELECT subject_key, {select_list(VERSION_COLUMNS)} FROM current_vault_object_versions"
        " ORDER BY vault_name, object_type, object_name, created_on DESC, version"
    ):
        row["mounted"] = row["version"] in usage.get(row["subject_key"], {}).get(
            "mounted_versions", set()
        )
        rows.append(shape(VERSION_COLUMNS, row))
    return Section.of(
        "versions",
        "Versions with dates (3.7.4 cryptoperiods, 3.7.5 retired versions)",
        VERSION_COLUMNS,
        rows,
        "Newest first. `mounted` marks a version some covered pod has on disk now.",
    )


#: Source row: ``current_secret_objects`` with the mount's ``written_at`` and ``credential_secret``,
#: plus ``findings`` added by the builder.
MOUNTED_OBJECT_COLUMNS = (
    Column("namespace"),
    Column("pod"),
    Column("node"),
    Column("volume"),
    Column("secret_provider_class"),
    Column("vault", value=itemgetter("keyvault_name")),
    Column("identity", value=lambda row: _identity(row)),
    Column("type", value=itemgetter("object_type")),
    Column("name", value=itemgetter("object_name")),
    Column("file", value=lambda row: row["object_alias"] or row["object_name"]),
    Column("file_permission"),
    Column("pinned_version", value=lambda row: row["object_version"] if row["pinned"] else None),
    Column("mounted_version"),
    Column("latest_version"),
    Column("is_latest", value=_flag_of("is_latest")),
    Column("enabled", value=_flag_of("enabled")),
    Column("expires", value=itemgetter("expires_on")),
    Column("age_days"),
    Column("cryptoperiod_days"),
    Column("thumbprint_match", value=_flag_of("thumbprint_match")),
    Column("synced_to", value=lambda row: json.loads(row["synced_to"] or "[]")),
    Column("written_at"),
    Column("findings"),
)


def _mounted_objects(store: Store, findings: dict[str, list[str]]) -> Section:
    rows: list[dict[str, Any]] = []
    for row in store.db.query(
        "SELECT o.*, m.written_at, m.credential_secret FROM current_secret_objects o"
        " JOIN current_secret_mounts m ON m.mount_observation_id = o.mount_observation_id"
        " ORDER BY o.namespace, o.pod, o.volume, o.object_type, o.object_name"
    ):
        row["findings"] = findings.get(row["subject_key"], [])
        rows.append(shape(MOUNTED_OBJECT_COLUMNS, row))
    return Section.of(
        "mounted_objects",
        "Where each object is mounted, and whether it is current",
        MOUNTED_OBJECT_COLUMNS,
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


#: Source row: a current file (``_FILES_SQL``).
MOUNTED_FILE_COLUMNS = (
    Column("namespace"),
    Column("pod"),
    Column("volume"),
    Column("path"),
    Column("kind"),
    Column("mode"),
    Column("size"),
    Column("private_keys", value=lambda row: _keys_text(row["private_keys"])),
    Column("public_keys", value=lambda row: _keys_text(row["public_keys"])),
    Column("certificates", value=itemgetter("certificate_count")),
    Column("leaf_subject"),
    Column("leaf_not_after"),
    Column("leaf_sha256"),
    Column("content_first_seen"),
    Column("error"),
)


def _mounted_files(store: Store) -> Section:
    rows = [shape(MOUNTED_FILE_COLUMNS, row) for row in store.db.query(_FILES_SQL)]
    return Section.of(
        "mounted_files",
        "Files in the mounts (facts only)",
        MOUNTED_FILE_COLUMNS,
        rows,
        "Classified by content. Private keys are described by type and size; values are never read into"
        " the database. `content_first_seen`: the first cycle that saw this exact content (keyed hash)"
        " at this path — a change of value shows as a new date.",
    )


FINDING_COLUMNS = tuple(
    Column(name, name)
    for name in (
        "rule_id",
        "severity",
        "requirements",
        "subject_type",
        "subject_key",
        "message",
        "status",
        "first_seen",
        "last_seen",
    )
)


def _findings(store: Store) -> Section:
    rows = list(
        store.db.query(
            f"SELECT {select_list(FINDING_COLUMNS)} FROM current_findings WHERE subject_type IN (?, ?, ?)"
            " ORDER BY rule_id, subject_key, detail_key",
            list(_KEY_RULE_SUBJECTS),
        )
    )
    return Section.of("findings", "Key-management findings", FINDING_COLUMNS, rows)


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
