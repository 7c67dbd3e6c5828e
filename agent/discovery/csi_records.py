"""Write one cycle's CSI driver facts (table ``csi_driver_observations``) and their V6 findings.

    covered = record_csi_drivers(store, run_id, read_csi_drivers(reader))

Only the DaemonSets actually judged are covered: an ``unknown`` cycle (no permission,
no Kubernetes access) leaves earlier V6 findings as they were instead of resolving them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from agent.discovery.csi_driver import CsiDriverFacts, Status
from agent.rules.keyvault import CSI_DRIVER
from agent.rules.model import DEFAULT_PROFILE, Finding, RuleSettings
from agent.rules.registry import evaluate
from agent.store import Store, utc_text


def csi_driver_findings(
    facts: Iterable[CsiDriverFacts], *, profile: str = DEFAULT_PROFILE, settings: Any = None
) -> list[Finding]:
    rule_settings = RuleSettings.from_agent_settings(settings) if settings else RuleSettings()
    return [
        finding
        for item in facts
        if item.status == Status.FOUND
        for finding in evaluate(
            item, item.subject_key, subject_type=CSI_DRIVER, profile=profile, settings=rule_settings
        )
    ]


def record_csi_drivers(
    store: Store,
    run_id: int,
    facts: Iterable[CsiDriverFacts],
    *,
    profile: str = DEFAULT_PROFILE,
    settings: Any = None,
    seen_at: dt.datetime | None = None,
) -> tuple[str, ...]:
    """One row per fact, the V6 findings; the subject keys judged this cycle."""
    facts = tuple(facts)
    seen = utc_text(seen_at)
    with store.transaction() as conn:
        conn.executemany(
            "INSERT INTO csi_driver_observations (run_id, subject_key, status, namespace, daemonset,"
            " container, image, rotation_enabled, rotation_argument, poll_interval,"
            " poll_interval_seconds, reason, observed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id,
                    item.subject_key,
                    item.status,
                    item.namespace,
                    item.daemonset or None,
                    item.container or None,
                    item.image or None,
                    None if item.rotation_enabled is None else int(item.rotation_enabled),
                    item.rotation_argument or None,
                    item.poll_interval,
                    item.poll_interval_seconds,
                    item.reason or None,
                    seen,
                )
                for item in facts
            ],
        )
    findings = csi_driver_findings(facts, profile=profile, settings=settings)
    if findings:
        store.record_findings(run_id, findings, seen_at=seen_at)
    return tuple(item.subject_key for item in facts if item.status == Status.FOUND)
