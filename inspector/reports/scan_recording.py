"""Record a `cryptoscope scan` as a run (the one place the CLI scan writes evidence)."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.rules import DEFAULT_PROFILE, RuleSettings, evaluate_endpoint
from agent.store import EndpointIdentity, Store, StoreError
from agent.tls.model import EndpointScan
from inspector.cli import UsageError
from inspector.reports.database import db_path_from

#: agent_id of runs recorded by `cryptoscope scan` (agents use their pod or node name).
CLI_AGENT_ID = "cli"


def record_scan(
    db_path: Path,
    results: Sequence[EndpointScan],
    *,
    profile: str = DEFAULT_PROFILE,
    settings: RuleSettings | None = None,
) -> int:
    """Store ``results`` as one finished run with its findings; return the run id."""
    with Store.open(db_path) as store:
        run_id = store.begin_run(
            agent_id=CLI_AGENT_ID, mode="local", profile=profile, scope="cryptoscope scan"
        )
        seen: set[str] = set()
        try:
            for result in results:
                identity = EndpointIdentity(
                    ip=result.host.strip("[]"), port=result.port, sni=result.sni
                )
                if identity.subject_key in seen:  # the same target given twice
                    continue
                seen.add(identity.subject_key)
                store.record_endpoint_scan(run_id, identity, result)
                findings = evaluate_endpoint(
                    result, identity.subject_key, profile=profile, settings=settings
                )
                store.record_findings(run_id, findings)
        except BaseException as exc:
            store.finish_run(run_id, status="failed", error=f"recording stopped: {exc}")
            raise
        store.finish_run(run_id)
        return run_id


def rule_settings_from_args(args: argparse.Namespace) -> RuleSettings:
    """The rule knobs given as ``--cert-expiry-warn-days`` / ``--cert-expiry-critical-days``."""
    try:
        return RuleSettings.from_agent_settings(args)
    except ValueError as exc:
        raise UsageError(f"--cert-expiry-*-days: {exc}") from exc


def record_for_cli(args: argparse.Namespace, results: Sequence[EndpointScan]) -> None:
    """`cryptoscope scan`'s recording: an explicit ``--db`` must work (else exit 2); the default
    location only warns when it cannot be written (the scan itself succeeded)."""
    path = db_path_from(args)
    settings = rule_settings_from_args(args)
    try:
        run_id = record_scan(path, results, settings=settings)
    except (StoreError, OSError, sqlite3.Error) as exc:
        message = f"scan done, but not recorded in {path}: {exc}"
        if getattr(args, "db", None) is not None:
            raise UsageError(message) from exc
        print(f"cryptoscope scan: warning: {message} (give --db PATH, or --no-db)", file=sys.stderr)
        return
    print(f"recorded as run {run_id} in {path}", file=sys.stderr)
