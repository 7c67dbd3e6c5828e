"""Rule V12 over a database where several clusters meet: the same key in production and test.

An agent sees one cluster, so it cannot judge 3.6.1.1's "same cryptographic keys in
production and test"; a database ``cryptoscope collect`` merged several clusters into
can. This module gathers where each key was seen and runs the rule
(:mod:`agent.rules.reuse`, rule data like every other) over it:

* which runs: each agent's latest finished run (``ok`` or ``partial``), with the
  ``environment`` the agent recorded on it (agent setting ``--environment``); a key
  that left a cluster leaves its latest run, and the finding resolves;
* which keys (fingerprints only, never secret material): SHA-256 of the
  SubjectPublicKeyInfo of every endpoint's TLS leaf certificate, of every
  CSI-mounted leaf certificate, of every mounted private key (its public half) and of
  public keys mounted from Key Vault *key* objects. CA certificates are not keys in
  use (the same CA trusted everywhere is normal) and are left out. A certificate
  re-issued with the same key has the same SPKI: it is the same key.

Findings are recorded through the store in a run of their own (agent
``cryptoscope-collect``, mode ``collect``), written only when there is something to
record or to resolve, so collecting evidence without environments changes nothing.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from agent.rules import DEFAULT_PROFILE, Finding, evaluate
from agent.rules.reuse import KEY, RULE, KeyReuseSubject, KeySighting, key_subject_key
from agent.store import Store

#: The ``agent_id`` and ``mode`` of the runs that record V12 findings.
COLLECT_AGENT = "cryptoscope-collect"
COLLECT_MODE = "collect"

#: Each agent's latest finished run and the environment it recorded (runs of V12 itself excluded).
_LATEST_RUNS = """
latest AS (
    SELECT id, agent_id, environment FROM (
        SELECT id, agent_id, environment, row_number() OVER
            (PARTITION BY agent_id ORDER BY started_at DESC, id DESC) AS age
        FROM runs WHERE status IN ('ok', 'partial') AND mode != :collect_mode)
    WHERE age = 1 AND environment != '')
"""

#: (spki_sha256, environment, agent_id, kind, place) for every key in the latest runs.
SIGHTINGS_SQL = f"""
WITH {_LATEST_RUNS}
SELECT c.spki_sha256, l.environment, l.agent_id, 'endpoint', e.subject_key
FROM latest l
JOIN endpoint_scans s ON s.run_id = l.id
JOIN endpoints e ON e.id = s.endpoint_id
JOIN certificates c ON c.sha256 = s.leaf_sha256
WHERE c.spki_sha256 != '' AND c.is_ca = 0
UNION
SELECT fc.spki_sha256, l.environment, l.agent_id, 'mount', m.subject_key || ' ' || f.path
FROM latest l
JOIN secret_mount_observations o ON o.run_id = l.id
JOIN secret_mounts m ON m.id = o.mount_id
JOIN secret_files f ON f.mount_observation_id = o.id
JOIN secret_file_certificates fc ON fc.secret_file_id = f.id AND fc.sha256 = f.leaf_sha256
WHERE fc.spki_sha256 != '' AND fc.is_ca = 0
UNION
SELECT json_extract(k.value, '$.spki_sha256'), l.environment, l.agent_id, 'mount',
       m.subject_key || ' ' || f.path
FROM latest l
JOIN secret_mount_observations o ON o.run_id = l.id
JOIN secret_mounts m ON m.id = o.mount_id
JOIN secret_files f ON f.mount_observation_id = o.id
JOIN json_each(f.private_keys) k
WHERE coalesce(json_extract(k.value, '$.spki_sha256'), '') != ''
UNION
SELECT json_extract(k.value, '$.spki_sha256'), l.environment, l.agent_id, 'mount',
       m.subject_key || ' ' || f.path
FROM latest l
JOIN secret_mount_observations o ON o.run_id = l.id
JOIN secret_mounts m ON m.id = o.mount_id
JOIN secret_files f ON f.mount_observation_id = o.id
JOIN secret_objects so ON so.id = f.secret_object_id AND so.object_type = 'key'
JOIN json_each(f.public_keys) k
WHERE coalesce(json_extract(k.value, '$.spki_sha256'), '') != ''
"""


@dataclasses.dataclass(frozen=True, slots=True)
class KeyReuseResult:
    #: Keys seen in more than one environment (each evaluated by the rule).
    keys_compared: int
    #: V12 findings recorded (open) and earlier ones resolved by this evaluation.
    findings: tuple[Finding, ...]
    resolved: int
    #: The run that recorded them; None when there was nothing to record or resolve.
    run_id: int | None


def key_reuse_subjects(conn: sqlite3.Connection) -> list[KeyReuseSubject]:
    """Every key seen in more than one known environment, with all its places, sorted by key."""
    places: dict[str, set[KeySighting]] = defaultdict(set)
    for spki, environment, agent_id, kind, place in conn.execute(
        SIGHTINGS_SQL, {"collect_mode": COLLECT_MODE}
    ):
        places[spki].add(KeySighting(environment, agent_id, kind, place))
    return [
        KeyReuseSubject(spki, tuple(sorted(sightings, key=dataclasses.astuple)))
        for spki, sightings in sorted(places.items())
        if len({s.environment for s in sightings}) > 1
    ]


def _open_subject_keys(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT subject_key FROM findings WHERE rule_id = ? AND resolved_at IS NULL",
            (RULE.id,),
        )
    ]


def record_key_reuse(
    store: Store, *, profile: str = DEFAULT_PROFILE, now: datetime | None = None
) -> KeyReuseResult:
    """Run V12 over ``store`` and record its findings; earlier ones no longer seen are resolved."""
    conn = store.db.conn
    subjects = key_reuse_subjects(conn)
    findings = tuple(
        finding
        for subject in subjects
        for finding in evaluate(
            subject,
            key_subject_key(subject.spki_sha256),
            subject_type=KEY,
            profile=profile,
            rules=[RULE],
        )
    )
    open_before = _open_subject_keys(conn)
    if not findings and not open_before:
        return KeyReuseResult(len(subjects), (), 0, None)
    run_id = store.begin_run(
        agent_id=COLLECT_AGENT, mode=COLLECT_MODE, profile=profile, started_at=now, rules=[RULE]
    )
    store.record_findings(run_id, findings, seen_at=now)
    store.finish_run(run_id, finished_at=now, covered_subject_keys=open_before)
    still_open = set(_open_subject_keys(conn))
    resolved = sum(1 for key in open_before if key not in still_open)
    return KeyReuseResult(len(subjects), findings, resolved, run_id)


def evaluate_key_reuse(
    database: Path, *, profile: str = DEFAULT_PROFILE, now: datetime | None = None
) -> KeyReuseResult:
    """:func:`record_key_reuse` over the database file at ``database`` (created or upgraded)."""
    with Store.open(database) as store:
        return record_key_reuse(store, profile=profile, now=now)
