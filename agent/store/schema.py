"""The evidence schema, as a forward-only list of sqlite-utils migrations.

Adding a migration is one function appended at the end of this module::

    @MIGRATIONS()
    def m0002_secret_objects(db: Database) -> None:
        db.execute("CREATE TABLE secret_objects (...)")

Never edit or reorder a migration that has shipped; append a new one. Each
migration runs in its own transaction together with the record of it in
``_sqlite_migrations`` (sqlite-utils), and the store also sets
``PRAGMA user_version`` to the number of applied migrations, so plain
``sqlite3`` shows the schema version. ``tests/store/test_migrations.py``
applies every migration from every previous version, with data in place.

Naming: tables and columns are plain words a reader of the snapshot in
``sqlite3`` or Datasette understands. Times are ISO 8601 UTC text
(``2026-11-30T16:40:00Z``) so they sort and compare as strings.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

#: The migration set's name in ``_sqlite_migrations``.
MIGRATION_SET = "cryptoscope"

MIGRATIONS = Migrations(MIGRATION_SET)


def _script(db: Database, sql: str) -> None:
    """Run several statements inside the migration's transaction (executescript would commit)."""
    for statement in sql.split(";\n"):
        if statement.strip():
            db.execute(statement)


@MIGRATIONS()
def m0001_evidence_store(db: Database) -> None:
    """Runs, endpoints, per-run TLS facts, certificates, findings, waivers, rules, IANA tables, views."""
    _script(
        db,
        """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    node TEXT,
    mode TEXT NOT NULL,
    profile TEXT NOT NULL DEFAULT 'pci',
    scope TEXT,
    tool_version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'ok', 'partial', 'failed', 'interrupted')),
    endpoint_count INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    finding_count INTEGER NOT NULL DEFAULT 0,
    error TEXT
);
CREATE INDEX idx_runs_agent_started ON runs (agent_id, started_at);

CREATE TABLE endpoints (
    id INTEGER PRIMARY KEY,
    subject_key TEXT NOT NULL UNIQUE,
    namespace TEXT,
    workload_kind TEXT,
    workload_name TEXT,
    pod TEXT,
    node TEXT,
    service TEXT,
    ip TEXT NOT NULL,
    port INTEGER NOT NULL,
    sni TEXT,
    transport TEXT,
    purpose TEXT,
    scope TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    latest_scan_id INTEGER REFERENCES endpoint_scans (id) ON DELETE SET NULL
);
CREATE INDEX idx_endpoints_namespace_workload ON endpoints (namespace, workload_kind, workload_name);
CREATE INDEX idx_endpoints_node ON endpoints (node);
CREATE INDEX idx_endpoints_transport ON endpoints (transport);
CREATE INDEX idx_endpoints_latest_scan ON endpoints (latest_scan_id);

CREATE TABLE endpoint_scans (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    endpoint_id INTEGER NOT NULL REFERENCES endpoints (id) ON DELETE CASCADE,
    transport TEXT NOT NULL,
    error TEXT,
    warnings TEXT,
    started_at TEXT,
    duration_s REAL NOT NULL DEFAULT 0,
    connections INTEGER NOT NULL DEFAULT 0,
    negotiated_protocol TEXT,
    negotiated_suite TEXT,
    negotiated_group TEXT,
    client_cert_required INTEGER NOT NULL DEFAULT 0,
    fallback_scsv INTEGER,
    dhe_min_bits INTEGER,
    chain_trusted INTEGER,
    chain_error TEXT,
    hostname_match INTEGER,
    chain_ordered INTEGER,
    chain_complete INTEGER,
    ca_source TEXT,
    leaf_sha256 TEXT REFERENCES certificates (sha256),
    UNIQUE (run_id, endpoint_id)
);
CREATE INDEX idx_endpoint_scans_endpoint ON endpoint_scans (endpoint_id, run_id);
CREATE INDEX idx_endpoint_scans_leaf ON endpoint_scans (leaf_sha256);

CREATE TABLE accepted_protocols (
    endpoint_scan_id INTEGER NOT NULL REFERENCES endpoint_scans (id) ON DELETE CASCADE,
    protocol TEXT NOT NULL,
    server_preference INTEGER,
    PRIMARY KEY (endpoint_scan_id, protocol)
) WITHOUT ROWID;
CREATE INDEX idx_accepted_protocols_protocol ON accepted_protocols (protocol);

CREATE TABLE accepted_suites (
    endpoint_scan_id INTEGER NOT NULL REFERENCES endpoint_scans (id) ON DELETE CASCADE,
    protocol TEXT NOT NULL,
    suite TEXT NOT NULL,
    preference_rank INTEGER NOT NULL,
    PRIMARY KEY (endpoint_scan_id, protocol, suite)
) WITHOUT ROWID;
CREATE INDEX idx_accepted_suites_suite ON accepted_suites (protocol, suite);

CREATE TABLE accepted_groups (
    endpoint_scan_id INTEGER NOT NULL REFERENCES endpoint_scans (id) ON DELETE CASCADE,
    protocol TEXT NOT NULL DEFAULT '',
    group_name TEXT NOT NULL,
    preference_rank INTEGER NOT NULL,
    PRIMARY KEY (endpoint_scan_id, protocol, group_name)
) WITHOUT ROWID;
CREATE INDEX idx_accepted_groups_group ON accepted_groups (group_name);

CREATE TABLE certificates (
    sha256 TEXT PRIMARY KEY,
    sha1 TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_bits INTEGER NOT NULL,
    curve TEXT,
    signature_algorithm TEXT NOT NULL,
    signature_hash TEXT,
    san_dns TEXT NOT NULL DEFAULT '[]',
    san_ip TEXT NOT NULL DEFAULT '[]',
    is_ca INTEGER NOT NULL DEFAULT 0,
    self_signed INTEGER NOT NULL DEFAULT 0,
    spki_sha256 TEXT NOT NULL DEFAULT '',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX idx_certificates_not_after ON certificates (not_after);

CREATE TABLE chain_positions (
    endpoint_scan_id INTEGER NOT NULL REFERENCES endpoint_scans (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    certificate_sha256 TEXT NOT NULL REFERENCES certificates (sha256),
    PRIMARY KEY (endpoint_scan_id, position)
) WITHOUT ROWID;
CREATE INDEX idx_chain_positions_certificate ON chain_positions (certificate_sha256);

CREATE TABLE errors (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    endpoint_scan_id INTEGER REFERENCES endpoint_scans (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    subject_key TEXT,
    message TEXT NOT NULL,
    occurred_at TEXT NOT NULL
);
CREATE INDEX idx_errors_run ON errors (run_id);
CREATE INDEX idx_errors_endpoint_scan ON errors (endpoint_scan_id);

CREATE TABLE rules (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    requirements TEXT NOT NULL,
    source TEXT NOT NULL,
    remediation TEXT NOT NULL,
    profiles TEXT NOT NULL,
    subject_type TEXT NOT NULL
);

CREATE TABLE waivers (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    subject_pattern TEXT NOT NULL,
    reason TEXT NOT NULL,
    approver TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    removed_at TEXT,
    source TEXT NOT NULL DEFAULT 'cli'
);

CREATE TABLE findings (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    severity TEXT NOT NULL,
    requirements TEXT NOT NULL,
    subject_type TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    endpoint_id INTEGER REFERENCES endpoints (id) ON DELETE SET NULL,
    detail_key TEXT NOT NULL DEFAULT '',
    message TEXT NOT NULL,
    remediation TEXT NOT NULL DEFAULT '',
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    first_run_id INTEGER,
    last_run_id INTEGER,
    resolved_at TEXT,
    waived INTEGER NOT NULL DEFAULT 0,
    waiver_id INTEGER REFERENCES waivers (id) ON DELETE SET NULL,
    UNIQUE (rule_id, subject_key, detail_key)
);
CREATE INDEX idx_findings_subject ON findings (subject_key);
CREATE INDEX idx_findings_endpoint ON findings (endpoint_id);
CREATE INDEX idx_findings_open ON findings (resolved_at, severity);

CREATE TABLE finding_sightings (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    finding_id INTEGER NOT NULL REFERENCES findings (id) ON DELETE CASCADE,
    PRIMARY KEY (run_id, finding_id)
) WITHOUT ROWID;
CREATE INDEX idx_finding_sightings_finding ON finding_sightings (finding_id);

CREATE TABLE iana_cipher_suites (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_exchange TEXT,
    authentication TEXT,
    cipher TEXT,
    mac TEXT,
    strength_bits INTEGER,
    recommended TEXT,
    protocols TEXT
);
CREATE INDEX idx_iana_cipher_suites_name ON iana_cipher_suites (name);

CREATE TABLE iana_groups (
    code INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT,
    strength_bits INTEGER,
    post_quantum INTEGER NOT NULL DEFAULT 0,
    recommended TEXT
);
CREATE INDEX idx_iana_groups_name ON iana_groups (name);

CREATE VIEW current_endpoints AS
SELECT e.id AS endpoint_id, e.subject_key, e.namespace, e.workload_kind, e.workload_name, e.pod,
       e.node, e.service, e.ip, e.port, e.sni, e.purpose, e.scope, e.first_seen, e.last_seen,
       s.id AS endpoint_scan_id, s.run_id, s.transport, s.error, s.negotiated_protocol,
       s.negotiated_suite, s.negotiated_group, s.client_cert_required, s.fallback_scsv,
       s.dhe_min_bits, s.chain_trusted, s.chain_error, s.hostname_match, s.leaf_sha256,
       s.started_at AS scanned_at, s.duration_s
FROM endpoints e JOIN endpoint_scans s ON s.id = e.latest_scan_id;

CREATE VIEW current_accepted_protocols AS
SELECT e.id AS endpoint_id, e.subject_key, p.protocol, p.server_preference
FROM endpoints e JOIN accepted_protocols p ON p.endpoint_scan_id = e.latest_scan_id;

CREATE VIEW current_accepted_suites AS
SELECT e.id AS endpoint_id, e.subject_key, a.protocol, a.suite, a.preference_rank
FROM endpoints e JOIN accepted_suites a ON a.endpoint_scan_id = e.latest_scan_id;

CREATE VIEW current_accepted_groups AS
SELECT e.id AS endpoint_id, e.subject_key, g.protocol, g.group_name, g.preference_rank
FROM endpoints e JOIN accepted_groups g ON g.endpoint_scan_id = e.latest_scan_id;

CREATE VIEW current_chain_positions AS
SELECT e.id AS endpoint_id, e.subject_key, c.position, c.certificate_sha256
FROM endpoints e JOIN chain_positions c ON c.endpoint_scan_id = e.latest_scan_id;

CREATE VIEW current_certificates AS
SELECT DISTINCT cert.*
FROM certificates cert
WHERE cert.sha256 IN (SELECT certificate_sha256 FROM current_chain_positions);

CREATE VIEW current_findings AS
SELECT f.*,
       CASE
           WHEN f.resolved_at IS NOT NULL THEN 'resolved'
           WHEN w.id IS NOT NULL THEN 'waived'
           ELSE 'open'
       END AS status,
       w.reason AS waiver_reason, w.approver AS waiver_approver, w.expires_at AS waiver_expires_at
FROM findings f
LEFT JOIN waivers w ON w.id = (
    SELECT w2.id FROM waivers w2
    WHERE w2.removed_at IS NULL
      AND w2.expires_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
      AND (w2.rule_id = f.rule_id OR w2.rule_id = '*')
      AND f.subject_key GLOB w2.subject_pattern
    ORDER BY w2.expires_at DESC LIMIT 1
)
WHERE f.resolved_at IS NULL
""",
    )


@MIGRATIONS()
def m0002_iana_suite_details(db: Database) -> None:
    """IANA suite mode, forward secrecy, export flag, OpenSSL name and strength label (for the 12.3.3 inventory)."""
    _script(
        db,
        """
ALTER TABLE iana_cipher_suites ADD COLUMN openssl_name TEXT;
ALTER TABLE iana_cipher_suites ADD COLUMN mode TEXT;
ALTER TABLE iana_cipher_suites ADD COLUMN forward_secrecy INTEGER;
ALTER TABLE iana_cipher_suites ADD COLUMN export INTEGER;
ALTER TABLE iana_cipher_suites ADD COLUMN strength TEXT;
ALTER TABLE iana_cipher_suites ADD COLUMN strength_reason TEXT;
ALTER TABLE iana_groups ADD COLUMN obsolete INTEGER NOT NULL DEFAULT 0;
DELETE FROM iana_cipher_suites;
DELETE FROM iana_groups
""",
    )


@MIGRATIONS()
def m0003_secrets_and_key_vault(db: Database) -> None:
    """CSI-mounted secrets (mounts, objects, files — facts only) and Key Vault metadata.

    Subjects with first/last seen (``secret_mounts``, ``vault_objects``) and per-run
    observations; "current" views pick each subject's newest observation. No column
    can hold a secret value or key bytes: files carry kind, mode, size, a keyed hash
    and certificate/key facts.
    """
    _script(
        db,
        """
CREATE TABLE secret_mounts (
    id INTEGER PRIMARY KEY,
    subject_key TEXT NOT NULL UNIQUE,
    namespace TEXT,
    pod TEXT,
    pod_uid TEXT,
    node TEXT,
    volume TEXT NOT NULL,
    secret_provider_class TEXT,
    keyvault_name TEXT,
    tenant_id TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);
CREATE INDEX idx_secret_mounts_namespace_pod ON secret_mounts (namespace, pod);

CREATE TABLE secret_mount_observations (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    mount_id INTEGER NOT NULL REFERENCES secret_mounts (id) ON DELETE CASCADE,
    identity_mode TEXT NOT NULL,
    identity_principal TEXT,
    credential_secret TEXT,
    service_account TEXT,
    path TEXT NOT NULL,
    present INTEGER NOT NULL,
    spcps_mounted INTEGER,
    data_dir TEXT,
    written_at TEXT,
    file_count INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    problems TEXT NOT NULL DEFAULT '[]',
    synced_secrets TEXT NOT NULL DEFAULT '[]',
    observed_at TEXT NOT NULL,
    UNIQUE (run_id, mount_id)
);
CREATE INDEX idx_secret_mount_observations_mount ON secret_mount_observations (mount_id, id);

CREATE TABLE secret_objects (
    id INTEGER PRIMARY KEY,
    mount_observation_id INTEGER NOT NULL REFERENCES secret_mount_observations (id) ON DELETE CASCADE,
    subject_key TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_name TEXT NOT NULL,
    object_alias TEXT,
    object_version TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    version_history INTEGER NOT NULL DEFAULT 0,
    object_format TEXT,
    object_encoding TEXT,
    file_permission TEXT,
    mounted_version TEXT,
    mounted_versions TEXT NOT NULL DEFAULT '[]',
    vault_object_key TEXT,
    latest_version TEXT,
    is_latest INTEGER,
    stale INTEGER,
    newer_versions INTEGER,
    enabled INTEGER,
    expires_on TEXT,
    expired INTEGER,
    has_expiry INTEGER,
    age_days REAL,
    cryptoperiod_days INTEGER,
    cryptoperiod_exceeded INTEGER,
    thumbprint_match INTEGER,
    synced_to TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX idx_secret_objects_observation ON secret_objects (mount_observation_id);
CREATE INDEX idx_secret_objects_vault_object ON secret_objects (vault_object_key);

CREATE TABLE secret_files (
    id INTEGER PRIMARY KEY,
    mount_observation_id INTEGER NOT NULL REFERENCES secret_mount_observations (id) ON DELETE CASCADE,
    secret_object_id INTEGER REFERENCES secret_objects (id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    mode TEXT NOT NULL,
    size INTEGER NOT NULL,
    keyed_hash TEXT NOT NULL,
    certificate_count INTEGER NOT NULL DEFAULT 0,
    leaf_sha256 TEXT,
    leaf_sha1 TEXT,
    leaf_subject TEXT,
    leaf_not_after TEXT,
    private_keys TEXT NOT NULL DEFAULT '[]',
    public_keys TEXT NOT NULL DEFAULT '[]',
    pfx_encoding TEXT,
    pfx_password_protected INTEGER,
    error TEXT
);
CREATE INDEX idx_secret_files_observation ON secret_files (mount_observation_id);
CREATE INDEX idx_secret_files_object ON secret_files (secret_object_id);
CREATE INDEX idx_secret_files_leaf ON secret_files (leaf_sha256);

CREATE TABLE secret_file_certificates (
    secret_file_id INTEGER NOT NULL REFERENCES secret_files (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    sha1 TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_bits INTEGER NOT NULL,
    curve TEXT,
    signature_algorithm TEXT NOT NULL,
    signature_hash TEXT,
    is_ca INTEGER NOT NULL DEFAULT 0,
    self_signed INTEGER NOT NULL DEFAULT 0,
    spki_sha256 TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (secret_file_id, position)
) WITHOUT ROWID;
CREATE INDEX idx_secret_file_certificates_sha256 ON secret_file_certificates (sha256);

CREATE TABLE vault_objects (
    id INTEGER PRIMARY KEY,
    subject_key TEXT NOT NULL UNIQUE,
    vault_name TEXT NOT NULL,
    vault_url TEXT,
    object_type TEXT NOT NULL,
    object_name TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL
);

CREATE TABLE vault_object_observations (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    vault_object_id INTEGER NOT NULL REFERENCES vault_objects (id) ON DELETE CASCADE,
    fetched_at TEXT NOT NULL,
    latest_version TEXT,
    version_count INTEGER NOT NULL DEFAULT 0,
    truncated INTEGER NOT NULL DEFAULT 0,
    hsm_backed INTEGER,
    rotates INTEGER,
    rotation_time_after_create TEXT,
    rotation_time_before_expiry TEXT,
    rotation_expires_in TEXT,
    renew_lifetime_percentage INTEGER,
    renew_days_before_expiry INTEGER,
    policy_actions TEXT NOT NULL DEFAULT '[]',
    error_kind TEXT,
    error_status INTEGER,
    retry_after_s REAL,
    error_message TEXT,
    UNIQUE (run_id, vault_object_id)
);
CREATE INDEX idx_vault_object_observations_object ON vault_object_observations (vault_object_id, id);

CREATE TABLE vault_object_versions (
    observation_id INTEGER NOT NULL REFERENCES vault_object_observations (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    enabled INTEGER,
    created_on TEXT,
    updated_on TEXT,
    not_before TEXT,
    expires_on TEXT,
    x509_thumbprint TEXT,
    key_type TEXT,
    key_bits INTEGER,
    curve TEXT,
    content_type TEXT,
    managed INTEGER,
    recovery_level TEXT,
    PRIMARY KEY (observation_id, version)
) WITHOUT ROWID;

CREATE VIEW current_secret_mounts AS
SELECT m.id AS mount_id, m.subject_key, m.namespace, m.pod, m.pod_uid, m.node, m.volume,
       m.secret_provider_class, m.keyvault_name, m.tenant_id, m.first_seen, m.last_seen,
       o.id AS mount_observation_id, o.run_id, o.identity_mode, o.identity_principal,
       o.credential_secret, o.service_account, o.path, o.present, o.spcps_mounted, o.data_dir,
       o.written_at, o.file_count, o.error, o.problems, o.synced_secrets, o.observed_at
FROM secret_mounts m
JOIN secret_mount_observations o
  ON o.id = (SELECT max(id) FROM secret_mount_observations WHERE mount_id = m.id);

CREATE VIEW current_secret_objects AS
SELECT cm.subject_key AS mount_key, cm.namespace, cm.pod, cm.node, cm.volume,
       cm.secret_provider_class, cm.keyvault_name, cm.identity_mode, cm.identity_principal,
       cm.service_account, cm.run_id, so.*
FROM current_secret_mounts cm JOIN secret_objects so ON so.mount_observation_id = cm.mount_observation_id;

CREATE VIEW current_secret_files AS
SELECT cm.subject_key AS mount_key, cm.namespace, cm.pod, cm.node, cm.volume, cm.path AS mount_path, f.*
FROM current_secret_mounts cm JOIN secret_files f ON f.mount_observation_id = cm.mount_observation_id;

CREATE VIEW current_vault_objects AS
SELECT v.id AS vault_object_id, v.subject_key, v.vault_name, v.vault_url, v.object_type, v.object_name,
       v.first_seen, v.last_seen, o.id AS observation_id, o.run_id, o.fetched_at, o.latest_version,
       o.version_count, o.truncated, o.hsm_backed, o.rotates, o.rotation_time_after_create,
       o.rotation_time_before_expiry, o.rotation_expires_in, o.renew_lifetime_percentage,
       o.renew_days_before_expiry, o.policy_actions, o.error_kind, o.error_status, o.retry_after_s,
       o.error_message
FROM vault_objects v
JOIN vault_object_observations o
  ON o.id = (SELECT max(id) FROM vault_object_observations WHERE vault_object_id = v.id);

CREATE VIEW current_vault_object_versions AS
SELECT cv.subject_key, cv.vault_name, cv.object_type, cv.object_name, ver.*
FROM current_vault_objects cv JOIN vault_object_versions ver ON ver.observation_id = cv.observation_id
""",
    )


@MIGRATIONS()
def m0004_dhe_groups(db: Database) -> None:
    """Finite-field DHE groups the prober identified (RFC 7919 names or ``custom-DH-<bits>``).

    ``endpoint_scans.dhe_groups`` is a JSON list; ``dhe_group_negotiation`` is 1 when the
    server picks an RFC 7919 group from the client's list, 0 when it sends its own
    parameters, NULL when unknown. ``current_dhe_groups`` has one row per group.
    """
    _script(
        db,
        """
ALTER TABLE endpoint_scans ADD COLUMN dhe_groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE endpoint_scans ADD COLUMN dhe_group_negotiation INTEGER;
CREATE VIEW current_dhe_groups AS
SELECT e.id AS endpoint_id, e.subject_key, s.id AS endpoint_scan_id, g.key + 1 AS position,
       g.value AS group_name, s.dhe_group_negotiation
FROM endpoints e
JOIN endpoint_scans s ON s.id = e.latest_scan_id
JOIN json_each(s.dhe_groups) g
""",
    )


@MIGRATIONS()
def m0005_revocation(db: Database) -> None:
    """The leaf's revocation status per scan (OCSP / CRL, 4.2.1): good, revoked, unknown (with
    the reason) or not-published; NULL when the scan did not check. ``current_revocation``
    gives each endpoint's latest answer with the leaf it is about."""
    _script(
        db,
        """
ALTER TABLE endpoint_scans ADD COLUMN revocation_status TEXT;
ALTER TABLE endpoint_scans ADD COLUMN revocation_method TEXT;
ALTER TABLE endpoint_scans ADD COLUMN revocation_url TEXT;
ALTER TABLE endpoint_scans ADD COLUMN revocation_detail TEXT;
ALTER TABLE endpoint_scans ADD COLUMN revoked_at TEXT;
ALTER TABLE endpoint_scans ADD COLUMN revocation_reason TEXT;
ALTER TABLE endpoint_scans ADD COLUMN revocation_checked_at TEXT;
CREATE INDEX idx_endpoint_scans_revocation ON endpoint_scans (revocation_status);
CREATE VIEW current_revocation AS
SELECT e.id AS endpoint_id, e.subject_key, s.id AS endpoint_scan_id, s.leaf_sha256,
       s.revocation_status, s.revocation_method, s.revocation_url, s.revocation_detail,
       s.revoked_at, s.revocation_reason, s.revocation_checked_at
FROM endpoints e
JOIN endpoint_scans s ON s.id = e.latest_scan_id
WHERE s.revocation_status IS NOT NULL
""",
    )


@MIGRATIONS()
def m0006_collect_provenance(db: Database) -> None:
    """Where merged evidence came from (``cryptoscope collect``): one row per snapshot merged
    (agent, node, pod, snapshot time, SHA-256) and one per run merged (source agent, run id and
    start → local run id), so collecting the same runs twice changes nothing.

    ``IF NOT EXISTS``: before this migration ``collect`` created these very tables itself, so a
    database it wrote already has them (with rows) and keeps them as they are.
    """
    _script(
        db,
        """
CREATE TABLE IF NOT EXISTS collected_snapshots (
    id INTEGER PRIMARY KEY,
    agent_id TEXT NOT NULL,
    node TEXT,
    pod TEXT,
    namespace TEXT,
    snapshot_time TEXT,
    collected_at TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    runs_merged INTEGER NOT NULL DEFAULT 0,
    runs_present INTEGER NOT NULL DEFAULT 0,
    runs_unfinished INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS collected_runs (
    source_agent TEXT NOT NULL,
    source_run_id INTEGER NOT NULL,
    source_started_at TEXT NOT NULL,
    local_run_id INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL REFERENCES collected_snapshots (id),
    PRIMARY KEY (source_agent, source_run_id, source_started_at)
);
CREATE INDEX IF NOT EXISTS idx_collected_snapshots_agent_sha256 ON collected_snapshots (agent_id, sha256)
""",
    )


@MIGRATIONS()
def m0007_chain_revocation_and_stapling(db: Database) -> None:
    """Revocation of every checked certificate of the chain (``chain_revocation``: one row per
    position but a self-signed root, leaf at 0) and the OCSP response the server stapled
    (``ocsp_staples``: stapled or not, Must-Staple, status, verified, producedAt / nextUpdate).
    ``current_chain_revocation`` and ``current_ocsp_staples`` give each endpoint's latest."""
    _script(
        db,
        """
CREATE TABLE chain_revocation (
    endpoint_scan_id INTEGER NOT NULL REFERENCES endpoint_scans (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    certificate_sha256 TEXT,
    status TEXT NOT NULL,
    method TEXT,
    url TEXT,
    detail TEXT,
    revoked_at TEXT,
    reason TEXT,
    checked_at TEXT,
    PRIMARY KEY (endpoint_scan_id, position)
) WITHOUT ROWID;
CREATE INDEX idx_chain_revocation_status ON chain_revocation (status);
CREATE TABLE ocsp_staples (
    endpoint_scan_id INTEGER NOT NULL REFERENCES endpoint_scans (id) ON DELETE CASCADE,
    stapled INTEGER NOT NULL,
    must_staple INTEGER NOT NULL,
    status TEXT,
    verified INTEGER,
    produced_at TEXT,
    this_update TEXT,
    next_update TEXT,
    revoked_at TEXT,
    reason TEXT,
    detail TEXT,
    PRIMARY KEY (endpoint_scan_id)
) WITHOUT ROWID;
CREATE VIEW current_chain_revocation AS
SELECT e.id AS endpoint_id, e.subject_key, r.*
FROM endpoints e
JOIN chain_revocation r ON r.endpoint_scan_id = e.latest_scan_id;
CREATE VIEW current_ocsp_staples AS
SELECT e.id AS endpoint_id, e.subject_key, o.*
FROM endpoints e
JOIN ocsp_staples o ON o.endpoint_scan_id = e.latest_scan_id
""",
    )


@MIGRATIONS()
def m0008_csi_driver(db: Database) -> None:
    """The Secrets Store CSI driver's rotation setting, once per run (rule V6):
    ``csi_driver_observations`` holds one row per driver DaemonSet found (status ``found``),
    or one ``not-found`` / ``unknown`` row with the reason; ``current_csi_driver`` gives
    each agent's latest."""
    _script(
        db,
        """
CREATE TABLE csi_driver_observations (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    subject_key TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('found', 'not-found', 'unknown')),
    namespace TEXT NOT NULL,
    daemonset TEXT,
    container TEXT,
    image TEXT,
    rotation_enabled INTEGER,
    rotation_argument TEXT,
    poll_interval TEXT,
    poll_interval_seconds REAL,
    reason TEXT,
    observed_at TEXT NOT NULL
);
CREATE INDEX idx_csi_driver_observations_run ON csi_driver_observations (run_id);
CREATE VIEW current_csi_driver AS
SELECT r.agent_id, o.*
FROM csi_driver_observations o
JOIN runs r ON r.id = o.run_id
WHERE o.run_id = (
    SELECT max(o2.run_id)
    FROM csi_driver_observations o2
    JOIN runs r2 ON r2.id = o2.run_id
    WHERE r2.agent_id = r.agent_id
)
""",
    )


@MIGRATIONS()
def m0009_run_environment(db: Database) -> None:
    """The cluster's environment each run was made in (agent setting ``environment``: ``prod``,
    ``staging``, ``test``, ``dev``; empty = unknown, as for every run before this migration).
    ``cryptoscope collect`` keeps it per merged run; rule V12 compares keys across environments."""
    db.execute("ALTER TABLE runs ADD COLUMN environment TEXT NOT NULL DEFAULT ''")
