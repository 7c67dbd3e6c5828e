"""The evidence store: one SQLite file (WAL) written by the agent, read by the inspector.

Write side (the agent loop)::

    store = Store.open(path)
    store.mark_interrupted(agent_id)          # runs a killed agent left "running"
    run_id = store.begin_run(agent_id="node-a", node="node-a", mode="daemonset")
    store.record_endpoint_scan(run_id, EndpointIdentity(ip=..., port=...), scan)
    store.record_error(run_id, "discovery failed: ...", stage="discovery")
    store.record_findings(run_id, findings)
    store.finish_run(run_id)
    store.prune(retention_runs=200)

Every write is one short ``BEGIN IMMEDIATE`` transaction, so a reader (WAL)
never waits for a whole run, and a writer killed at any moment leaves the file
consistent with every earlier run intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from agent import __version__
from agent.rules.model import Finding, Rule
from agent.store import reference
from agent.store.model import EndpointIdentity, utc_text
from agent.store.schema import MIGRATION_SET, MIGRATIONS
from agent.tls.model import CertificateInfo, EndpointScan, RevocationCheck

#: Milliseconds a statement waits for a lock before giving up (SQLite busy_timeout).
BUSY_TIMEOUT_MS = 30_000
#: Page cache per connection, KiB (SQLite's default is 2 MiB; 100,000 endpoints need more).
CACHE_KIB = 64 * 1024
#: Longest error or warning text kept (prober messages are one line; this bounds hostile input).
MAX_MESSAGE_CHARS = 500

RUN_STATUSES = ("running", "ok", "partial", "failed", "interrupted")


def certificate_facts(cert: CertificateInfo) -> tuple[object, ...]:
    """The certificate columns every certificate table shares, in this order: sha256, sha1,
    subject, issuer, serial, not_before, not_after, key_type, key_bits, curve,
    signature_algorithm, signature_hash."""
    return (
        cert.sha256,
        cert.sha1,
        cert.subject,
        cert.issuer,
        cert.serial,
        utc_text(cert.not_before),
        utc_text(cert.not_after),
        cert.key_type,
        cert.key_bits,
        cert.curve,
        cert.signature_algorithm,
        cert.signature_hash,
    )


class StoreError(Exception):
    """The database cannot be used; the message says why. Nothing was changed."""


class SchemaTooOldError(StoreError):
    """Opened read-only, but the database needs migrations this version would apply when writing."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer cryptoscope (it has migrations this one does not know)."""


def schema_version() -> int:
    """The schema version this code writes: the number of migrations it knows."""
    return len(MIGRATIONS._migrations)


def known_migration_names() -> list[str]:
    return [migration.name for migration in MIGRATIONS._migrations]


def _bool_or_none(value: bool | None) -> int | None:
    return None if value is None else int(bool(value))


#: Bytes a peer sent, as messages quote them ("first bytes '220 ready ...'", b'...', hex dumps).
#: A peer's bytes may carry anything (a banner with a password, a token in an error page): never kept.
_PEER_BYTES = re.compile(
    r"""(?P<label>\bfirst bytes|\bbanner|\breceived|\bgot|\bsent)(?P<sep>\s*[:=]?\s*)"""
    r"""(?:b?'[^']*'|b?"[^"]*"|[0-9a-f]{8,})""",
    re.IGNORECASE,
)
_BYTES_LITERAL = re.compile(r"\bb'(?:[^'\\]|\\.)*'" + r'|\bb"(?:[^"\\]|\\.)*"')


def redact_peer_bytes(text: str) -> str:
    """Drop quoted peer data from a prober message, keeping what it says about the peer."""
    text = _PEER_BYTES.sub(lambda m: f"{m.group('label')}{m.group('sep')}<redacted>", text)
    return _BYTES_LITERAL.sub("<bytes redacted>", text)


def _clip(text: str | None) -> str | None:
    if text is None:
        return None
    text = redact_peer_bytes(" ".join(text.split()))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _revocation_facts(check: RevocationCheck) -> tuple[str | None, ...]:
    """status, method, url, detail, revoked_at, reason, checked_at: the columns every
    revocation record shares (the leaf's on the scan, each certificate's in chain_revocation)."""
    return (
        check.status,
        check.method,
        _clip(check.url),
        _clip(check.detail),
        utc_text(check.revoked_at) if check.revoked_at else None,
        check.reason,
        utc_text(check.checked_at) if check.checked_at else None,
    )


def _revocation_columns(scan: EndpointScan) -> tuple[str | None, ...]:
    return (None,) * 7 if scan.revocation is None else _revocation_facts(scan.revocation)


def _chain_revocation_rows(scan_id: int, scan: EndpointScan) -> list[tuple[Any, ...]]:
    """One row per checked certificate of the chain (``EndpointScan.chain_revocation``)."""
    return [
        (scan_id, check.position, check.sha256, *_revocation_facts(check))
        for check in scan.chain_revocation
    ]


def _staple_rows(scan_id: int, scan: EndpointScan) -> list[tuple[Any, ...]]:
    """The stapled OCSP response's facts (``EndpointScan.ocsp_staple``), when a handshake asked."""
    staple = scan.ocsp_staple
    if staple is None:
        return []
    when = [staple.produced_at, staple.this_update, staple.next_update, staple.revoked_at]
    return [
        (
            scan_id,
            int(staple.stapled),
            int(staple.must_staple),
            staple.status,
            _bool_or_none(staple.verified),
            *(utc_text(moment) if moment else None for moment in when),
            staple.reason,
            _clip(staple.detail),
        )
    ]


@dataclasses.dataclass
class _ChildRows:
    """Rows of a batch of endpoint scans, written with one executemany per table."""

    latest: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    protocols: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    suites: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    groups: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    chain: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    errors: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    revocations: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    staples: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)

    def write(self, conn: sqlite3.Connection) -> None:
        conn.executemany("UPDATE endpoints SET latest_scan_id = ? WHERE id = ?", self.latest)
        conn.executemany(
            "INSERT INTO accepted_protocols (endpoint_scan_id, protocol, server_preference) VALUES (?, ?, ?)",
            self.protocols,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO accepted_suites (endpoint_scan_id, protocol, suite, preference_rank)"
            " VALUES (?, ?, ?, ?)",
            self.suites,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO accepted_groups (endpoint_scan_id, protocol, group_name, preference_rank)"
            " VALUES (?, ?, ?, ?)",
            self.groups,
        )
        conn.executemany(
            "INSERT INTO chain_positions (endpoint_scan_id, position, certificate_sha256) VALUES (?, ?, ?)",
            self.chain,
        )
        conn.executemany(
            "INSERT INTO errors (run_id, endpoint_scan_id, stage, subject_key, message, occurred_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            self.errors,
        )
        conn.executemany(
            "INSERT INTO chain_revocation (endpoint_scan_id, position, certificate_sha256, status,"
            " method, url, detail, revoked_at, reason, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.revocations,
        )
        conn.executemany(
            "INSERT INTO ocsp_staples (endpoint_scan_id, stapled, must_staple, status, verified,"
            " produced_at, this_update, next_update, revoked_at, reason, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self.staples,
        )


class Store:
    """A cryptoscope database. Open with :meth:`open`; close with :meth:`close` (or ``with``)."""

    def __init__(self, db: Database, path: Path, *, readonly: bool) -> None:
        self.db = db
        self.path = path
        self.readonly = readonly
        #: Certificates upserted in the current batch (sha256 -> seen), to skip repeats.
        self._certificates_written: dict[str, str] = {}

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, readonly: bool = False) -> Store:
        """Open (and create or upgrade) the database at ``path``.

        Raises :class:`StoreError` for a missing file (``create=False``), a file
        that is not SQLite or not a cryptoscope database, and
        :class:`SchemaTooNewError` for a newer schema — in each case before
        anything in the file is changed.
        """
        path = Path(path)
        exists = path.exists() and path.stat().st_size > 0
        if not exists and (readonly or not create):
            raise StoreError(f"no database at {path}")
        if path.exists() and path.is_dir():
            raise StoreError(f"{path} is a directory, not a database file")
        if not exists:
            path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                conn = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
                )
            else:
                conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        db = Database(conn)
        store = cls(db, path, readonly=readonly)
        try:
            store._check_identity(empty_ok=not exists)
            # keep the index pages of big databases in memory
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            if not readonly:
                store._prepare_writer()
        except BaseException:
            conn.close()
            raise
        return store

    def _check_identity(self, *, empty_ok: bool) -> None:
        try:
            tables = set(self.db.table_names())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a SQLite database ({exc})") from exc
        if not tables:
            if empty_ok:
                return
            if self.readonly:
                raise StoreError(f"{self.path} is an empty SQLite file, not a cryptoscope database")
            return
        if "_sqlite_migrations" not in tables:
            raise StoreError(
                f"{self.path} is a SQLite database but not a cryptoscope one (no migrations table)"
            )
        applied = [
            row["name"]
            for row in self.db.query(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = ? ORDER BY rowid",
                [MIGRATION_SET],
            )
        ]
        if not applied and tables - {"_sqlite_migrations"}:
            raise StoreError(f"{self.path} is a SQLite database but not a cryptoscope one")
        unknown = [name for name in applied if name not in known_migration_names()]
        if unknown:
            raise SchemaTooNewError(
                f"{self.path} has schema version {len(applied)} (migrations {', '.join(unknown)}), "
                f"newer than this cryptoscope {__version__} knows ({schema_version()}); "
                "upgrade cryptoscope to read it"
            )
        if self.readonly and len(applied) < schema_version():
            raise SchemaTooOldError(
                f"{self.path} has schema version {len(applied)}, older than {schema_version()}; "
                "it is upgraded when opened for writing"
            )

    def _prepare_writer(self) -> None:
        self.db.execute("PRAGMA journal_mode = WAL")
        self.db.execute("PRAGMA synchronous = NORMAL")
        self.db.execute("PRAGMA foreign_keys = ON")
        try:
            # one writer migrates at a time: a second process creating the same file waits, then
            # finds the migrations applied (each migration is a savepoint inside this transaction)
            with self.transaction():
                MIGRATIONS.apply(self.db)
                self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS.applied(self.db))}")
                reference.load_iana_tables(self.db)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot upgrade the schema of {self.path}: {exc}") from exc

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction; taken IMMEDIATE so it never fails half-way on a lock.

        Other writers of the same file (e.g. the secrets records) use it too."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only")
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return len(MIGRATIONS.applied(self.db))

    # ------------------------------------------------------------------ runs

    def begin_run(
        self,
        *,
        agent_id: str,
        mode: str,
        node: str | None = None,
        profile: str = "pci",
        scope: str | None = None,
        started_at: datetime | None = None,
        rules: Iterable[Rule] | None = None,
        tool_version: str = __version__,
        environment: str = "",
    ) -> int:
        """Start a run and return its id. ``rules`` (default: every registered rule) are recorded.

        ``environment`` is the cluster's (agent setting; "" unknown), for rule V12."""
        if rules is None:
            from agent.rules import RULES

            rules = RULES.values()
        with self.transaction() as conn:
            self._sync_rules(conn, rules)
            cursor = conn.execute(
                "INSERT INTO runs (agent_id, node, mode, profile, scope, tool_version, started_at,"
                " environment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    agent_id,
                    node,
                    mode,
                    profile,
                    scope,
                    tool_version,
                    utc_text(started_at),
                    environment,
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    @staticmethod
    def _sync_rules(conn: sqlite3.Connection, rules: Iterable[Rule]) -> None:
        conn.executemany(
            "INSERT INTO rules (id, title, severity, requirements, source, remediation, profiles, subject_type)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET title = excluded.title, severity = excluded.severity,"
            " requirements = excluded.requirements, source = excluded.source,"
            " remediation = excluded.remediation, profiles = excluded.profiles,"
            " subject_type = excluded.subject_type",
            [
                (
                    rule.id,
                    rule.title,
                    str(rule.severity),
                    ", ".join(rule.requirements),
                    rule.source,
                    rule.remediation,
                    ", ".join(sorted(rule.profiles)),
                    rule.subject_type,
                )
                for rule in rules
            ],
        )

    def finish_run(
        self,
        run_id: int,
        *,
        status: str = "ok",
        error: str | None = None,
        finished_at: datetime | None = None,
        covered_subject_keys: Iterable[str] = (),
    ) -> None:
        """Close a run: counts, status, and resolve findings no longer seen.

        A finding is resolved when this run looked at its subject (an endpoint it
        scanned, or a key in ``covered_subject_keys``) and did not report it.
        Failed or interrupted runs resolve nothing.
        """
        if status not in RUN_STATUSES or status == "running":
            raise ValueError(f"status must be one of ok, partial, failed, interrupted: {status!r}")
        now = utc_text(finished_at)
        with self.transaction() as conn:
            if status in ("ok", "partial"):
                conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS covered_subjects (subject_key TEXT PRIMARY KEY)"
                )
                conn.execute("DELETE FROM covered_subjects")
                conn.execute(
                    "INSERT OR IGNORE INTO covered_subjects SELECT e.subject_key FROM endpoint_scans s"
                    " JOIN endpoints e ON e.id = s.endpoint_id WHERE s.run_id = ?",
                    (run_id,),
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO covered_subjects VALUES (?)",
                    [(key,) for key in covered_subject_keys],
                )
                conn.execute(
                    "UPDATE findings SET resolved_at = ? WHERE resolved_at IS NULL"
                    " AND subject_key IN (SELECT subject_key FROM covered_subjects)"
                    " AND NOT EXISTS (SELECT 1 FROM finding_sightings fs"
                    "                 WHERE fs.run_id = ? AND fs.finding_id = findings.id)",
                    (now, run_id),
                )
                conn.execute("DELETE FROM covered_subjects")
            conn.execute(
                "UPDATE runs SET finished_at = ?, status = ?, error = ?,"
                " endpoint_count = (SELECT count(*) FROM endpoint_scans WHERE run_id = runs.id),"
                " error_count = (SELECT count(*) FROM errors WHERE run_id = runs.id),"
                " finding_count = (SELECT count(*) FROM finding_sightings WHERE run_id = runs.id)"
                " WHERE id = ?",
                (now, status, _clip(error), run_id),
            )

    def mark_interrupted(self, agent_id: str) -> int:
        """Mark this agent's runs still 'running' (its previous process died) as interrupted."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE runs SET status = 'interrupted',"
                " endpoint_count = (SELECT count(*) FROM endpoint_scans WHERE run_id = runs.id),"
                " error_count = (SELECT count(*) FROM errors WHERE run_id = runs.id)"
                " WHERE agent_id = ? AND status = 'running'",
                (agent_id,),
            )
            return cursor.rowcount

    # ------------------------------------------------------------------ observations

    def record_endpoint_scan(
        self, run_id: int, identity: EndpointIdentity, scan: EndpointScan
    ) -> int:
        """Record what the prober saw at one endpoint in this run; returns the endpoint_scans id."""
        return self.record_endpoint_scans(run_id, [(identity, scan)])[0]

    def record_endpoint_scans(
        self, run_id: int, items: Sequence[tuple[EndpointIdentity, EndpointScan]]
    ) -> list[int]:
        """Record many endpoint scans in one transaction (batching is much faster)."""
        ids: list[int] = []
        rows = _ChildRows()
        self._certificates_written.clear()
        with self.transaction() as conn:
            for identity, scan in items:
                try:
                    ids.append(self._insert_endpoint_scan(conn, run_id, identity, scan, rows))
                except sqlite3.IntegrityError as exc:
                    raise StoreError(
                        f"cannot record {identity.subject_key} in run {run_id}: {exc}"
                        " (unknown run, or this endpoint is already recorded in it)"
                    ) from exc
            rows.write(conn)
        return ids

    def _insert_endpoint_scan(
        self,
        conn: sqlite3.Connection,
        run_id: int,
        identity: EndpointIdentity,
        scan: EndpointScan,
        rows: _ChildRows,
    ) -> int:
        seen = utc_text(scan.started_at) if scan.started_at else utc_text()
        endpoint_id = conn.execute(
            "INSERT INTO endpoints (subject_key, namespace, workload_kind, workload_name, pod, node,"
            " service, ip, port, sni, transport, purpose, scope, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (subject_key) DO UPDATE SET node = coalesce(excluded.node, node),"
            " service = coalesce(excluded.service, service), transport = excluded.transport,"
            " purpose = coalesce(excluded.purpose, purpose), scope = coalesce(excluded.scope, scope),"
            " last_seen = max(last_seen, excluded.last_seen)"
            " RETURNING id",
            (
                identity.subject_key,
                identity.namespace,
                identity.workload_kind,
                identity.workload_name,
                identity.pod,
                identity.node,
                identity.service,
                identity.ip,
                identity.port,
                identity.sni or scan.sni,
                str(scan.transport),
                identity.purpose,
                identity.scope,
                seen,
                seen,
            ),
        ).fetchone()[0]
        for certificate in scan.certificates:
            if self._certificates_written.get(certificate.sha256) != seen:
                self._upsert_certificate(conn, certificate, seen)
                self._certificates_written[certificate.sha256] = seen
        chain = scan.chain
        negotiated = scan.negotiated or (None, None, None)
        scan_id = conn.execute(
            "INSERT INTO endpoint_scans (run_id, endpoint_id, transport, error, warnings, started_at,"
            " duration_s, connections, negotiated_protocol, negotiated_suite, negotiated_group,"
            " client_cert_required, fallback_scsv, dhe_min_bits, chain_trusted, chain_error,"
            " hostname_match, chain_ordered, chain_complete, ca_source, leaf_sha256, dhe_groups,"
            " dhe_group_negotiation, revocation_status, revocation_method, revocation_url,"
            " revocation_detail, revoked_at, revocation_reason, revocation_checked_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                run_id,
                endpoint_id,
                str(scan.transport),
                _clip(scan.error),
                json.dumps([_clip(w) for w in scan.warnings]) if scan.warnings else None,
                utc_text(scan.started_at) if scan.started_at else None,
                scan.duration_s,
                scan.connections,
                negotiated[0],
                negotiated[1],
                negotiated[2],
                int(scan.client_cert_required),
                _bool_or_none(scan.fallback_scsv),
                scan.dhe_min_bits,
                _bool_or_none(chain.trusted) if chain else None,
                _clip(chain.error) if chain else None,
                _bool_or_none(chain.hostname_match) if chain else None,
                _bool_or_none(chain.ordered) if chain else None,
                _bool_or_none(chain.complete) if chain else None,
                chain.ca_source if chain else None,
                scan.certificates[0].sha256 if scan.certificates else None,
                json.dumps(list(scan.dhe_groups)),
                _bool_or_none(scan.dhe_group_negotiation),
                *_revocation_columns(scan),
            ),
        ).fetchone()[0]
        rows.latest.append((scan_id, endpoint_id))
        rows.protocols += [
            (scan_id, name, _bool_or_none(result.server_preference))
            for name, result in scan.protocols.items()
            if result.accepted
        ]
        rows.suites += [
            (scan_id, name, suite, rank)
            for name, result in scan.protocols.items()
            if result.accepted
            for rank, suite in enumerate(result.suites, start=1)
        ]
        group_rows = [
            (scan_id, version, group, rank)
            for version, groups in scan.groups_by_version.items()
            for rank, group in enumerate(groups, start=1)
        ]
        listed = {row[2] for row in group_rows}
        rows.groups += group_rows + [
            (scan_id, "", group, rank)
            for rank, group in enumerate(scan.groups, start=1)
            if group not in listed
        ]
        rows.chain += [
            (scan_id, position, cert.sha256) for position, cert in enumerate(scan.certificates)
        ]
        errors = [("probe", scan.error)] if scan.error else []
        errors += [
            (f"protocol {name}", result.error)
            for name, result in scan.protocols.items()
            if result.error
        ]
        rows.errors += [
            (run_id, scan_id, stage, identity.subject_key, _clip(message), seen)
            for stage, message in errors
        ]
        rows.revocations += _chain_revocation_rows(scan_id, scan)
        rows.staples += _staple_rows(scan_id, scan)
        return int(scan_id)

    @staticmethod
    def _upsert_certificate(conn: sqlite3.Connection, cert: CertificateInfo, seen: str) -> None:
        conn.execute(
            "INSERT INTO certificates (sha256, sha1, subject, issuer, serial, not_before, not_after,"
            " key_type, key_bits, curve, signature_algorithm, signature_hash, san_dns, san_ip, is_ca,"
            " self_signed, spki_sha256, first_seen, last_seen)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (sha256) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)",
            (
                *certificate_facts(cert),
                json.dumps(list(cert.san_dns)),
                json.dumps(list(cert.san_ip)),
                int(cert.is_ca),
                int(cert.self_signed),
                cert.spki_sha256,
                seen,
                seen,
            ),
        )

    def record_error(
        self,
        run_id: int,
        message: str,
        *,
        stage: str = "agent",
        subject_key: str | None = None,
        endpoint_scan_id: int | None = None,
        occurred_at: datetime | None = None,
    ) -> None:
        """An error of the run itself (discovery, Kubernetes API, a cut cycle), one line."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO errors (run_id, endpoint_scan_id, stage, subject_key, message, occurred_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    endpoint_scan_id,
                    stage,
                    subject_key,
                    _clip(message),
                    utc_text(occurred_at),
                ),
            )

    # ------------------------------------------------------------------ findings

    def record_findings(
        self, run_id: int, findings: Iterable[Finding], *, seen_at: datetime | None = None
    ) -> int:
        """Record this run's findings (call once or in batches); returns how many were recorded.

        A finding already known (same rule, subject key and detail key) keeps its
        first_seen and is reopened if it had been resolved. Active waivers mark it
        waived (the waiver's id is kept); it stays visible either way.
        """
        now = utc_text(seen_at)
        rows = [
            (
                finding.rule_id,
                str(finding.severity),
                ", ".join(finding.requirements),
                finding.subject_type,
                finding.subject_key,
                finding.detail_key,
                _clip(finding.message),
                finding.remediation,
                now,
                run_id,
            )
            for finding in findings
        ]
        keys = [(run_id, row[0], row[4], row[5]) for row in rows]
        with self.transaction() as conn:
            conn.executemany(
                "INSERT INTO findings (rule_id, severity, requirements, subject_type, subject_key,"
                " endpoint_id, detail_key, message, remediation, first_seen, last_seen, first_run_id,"
                " last_run_id) VALUES (?1, ?2, ?3, ?4, ?5,"
                " CASE WHEN ?4 = 'endpoint' THEN (SELECT id FROM endpoints WHERE subject_key = ?5) END,"
                " ?6, ?7, ?8, ?9, ?9, ?10, ?10)"
                " ON CONFLICT (rule_id, subject_key, detail_key) DO UPDATE SET"
                " severity = excluded.severity, requirements = excluded.requirements,"
                " message = excluded.message, remediation = excluded.remediation,"
                " endpoint_id = coalesce(excluded.endpoint_id, endpoint_id),"
                " last_seen = excluded.last_seen, last_run_id = excluded.last_run_id, resolved_at = NULL",
                rows,
            )
            conn.executemany(
                "INSERT OR IGNORE INTO finding_sightings (run_id, finding_id)"
                " SELECT ?1, id FROM findings WHERE rule_id = ?2 AND subject_key = ?3 AND detail_key = ?4",
                keys,
            )
            self._apply_waivers(conn, now, finding_keys=[key[1:] for key in keys])
        return len(rows)

    _WAIVER_OF_FINDING = (
        "SELECT w.id FROM waivers w WHERE w.removed_at IS NULL AND w.expires_at > :now"
        " AND (w.rule_id = findings.rule_id OR w.rule_id = '*')"
        " AND findings.subject_key GLOB w.subject_pattern ORDER BY w.expires_at DESC LIMIT 1"
    )

    @classmethod
    def _apply_waivers(
        cls,
        conn: sqlite3.Connection,
        now: str,
        *,
        finding_keys: Sequence[tuple[str, str, str]] | None = None,
    ) -> None:
        """Set findings.waived / waiver_id from the waivers active at ``now``.

        All findings, or those with the given (rule_id, subject_key, detail_key).
        """
        update = (
            f"UPDATE findings SET waiver_id = ({cls._WAIVER_OF_FINDING}),"
            f" waived = ({cls._WAIVER_OF_FINDING}) IS NOT NULL"
        )
        if finding_keys is None:
            conn.execute(update, {"now": now})
            return
        if not conn.execute("SELECT 1 FROM waivers LIMIT 1").fetchone():
            return  # no waiver was ever written: nothing can be waived
        conn.executemany(
            update + " WHERE rule_id = :rule AND subject_key = :subject AND detail_key = :detail",
            [
                {"now": now, "rule": rule, "subject": subject, "detail": detail}
                for rule, subject, detail in finding_keys
            ],
        )

    # ------------------------------------------------------------------ waivers

    def add_waiver(
        self,
        *,
        rule_id: str,
        subject_pattern: str,
        reason: str,
        approver: str,
        expires_at: datetime,
        source: str = "cli",
        created_at: datetime | None = None,
    ) -> int:
        for label, value in (
            ("rule id", rule_id),
            ("subject pattern", subject_pattern),
            ("reason", reason),
            ("approver", approver),
        ):
            if not value or not value.strip():
                raise StoreError(f"a waiver needs a {label}")
        with self.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO waivers (rule_id, subject_pattern, reason, approver, created_at, expires_at, source)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rule_id,
                    subject_pattern,
                    reason,
                    approver,
                    utc_text(created_at),
                    utc_text(expires_at),
                    source,
                ),
            )
            self._apply_waivers(conn, utc_text(created_at))
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def add_waivers(
        self, specs: Iterable[Any], *, source: str, created_at: datetime | None = None
    ) -> list[int]:
        """Add several waivers (objects with rule_id, subject_pattern, reason, approver, expires_at) at once.

        All or nothing. A waiver identical to an active one (same rule, pattern,
        approver and expiry) is not added twice.
        """
        ids: list[int] = []
        now = utc_text(created_at)
        with self.transaction() as conn:
            for spec in specs:
                duplicate = conn.execute(
                    "SELECT id FROM waivers WHERE removed_at IS NULL AND rule_id = ? AND subject_pattern = ?"
                    " AND approver = ? AND expires_at = ?",
                    (spec.rule_id, spec.subject_pattern, spec.approver, utc_text(spec.expires_at)),
                ).fetchone()
                if duplicate:
                    continue
                cursor = conn.execute(
                    "INSERT INTO waivers (rule_id, subject_pattern, reason, approver, created_at, expires_at, source)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        spec.rule_id,
                        spec.subject_pattern,
                        spec.reason,
                        spec.approver,
                        now,
                        utc_text(spec.expires_at),
                        source,
                    ),
                )
                assert cursor.lastrowid is not None
                ids.append(cursor.lastrowid)
            self._apply_waivers(conn, now)
        return ids

    def remove_waiver(self, waiver_id: int, *, removed_at: datetime | None = None) -> None:
        """Withdraw a waiver. The row stays (it is evidence); its findings reopen."""
        with self.transaction() as conn:
            cursor = conn.execute(
                "UPDATE waivers SET removed_at = ? WHERE id = ? AND removed_at IS NULL",
                (utc_text(removed_at), waiver_id),
            )
            if cursor.rowcount == 0:
                raise StoreError(f"no active waiver with id {waiver_id}")
            self._apply_waivers(conn, utc_text(removed_at))

    def refresh_waivers(self, now: datetime | None = None) -> None:
        """Re-evaluate every finding against the waivers active at ``now`` (expired ones reopen)."""
        with self.transaction() as conn:
            self._apply_waivers(conn, utc_text(now))

    def waivers(
        self, *, include_inactive: bool = False, now: datetime | None = None
    ) -> list[dict[str, Any]]:
        sql = "SELECT * FROM waivers"
        params: list[Any] = []
        if not include_inactive:
            sql += " WHERE removed_at IS NULL AND expires_at > ?"
            params.append(utc_text(now))
        return list(self.db.query(sql + " ORDER BY id", params))

    # ------------------------------------------------------------------ retention

    def prune(self, retention_runs: int, *, agent_id: str | None = None) -> int:
        """Keep the newest ``retention_runs`` runs per agent (at least the latest); returns runs deleted."""
        keep = max(1, retention_runs)
        with self.transaction() as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            doomed = [
                row[0]
                for row in conn.execute(
                    "SELECT id FROM (SELECT id, agent_id, row_number() OVER"
                    " (PARTITION BY agent_id ORDER BY started_at DESC, id DESC) AS age FROM runs"
                    " WHERE status != 'running') WHERE age > ? AND (?2 IS NULL OR agent_id = ?2)",
                    (keep, agent_id),
                )
            ]
            if not doomed:
                return 0
            conn.executemany("DELETE FROM runs WHERE id = ?", [(run_id,) for run_id in doomed])
            conn.execute(
                "UPDATE endpoints SET latest_scan_id ="
                " (SELECT max(id) FROM endpoint_scans WHERE endpoint_id = endpoints.id)"
                " WHERE latest_scan_id IS NULL"
            )
            conn.execute(
                "DELETE FROM certificates WHERE sha256 NOT IN (SELECT certificate_sha256 FROM chain_positions)"
                " AND sha256 NOT IN (SELECT leaf_sha256 FROM endpoint_scans WHERE leaf_sha256 IS NOT NULL)"
            )
        return len(doomed)
