"""Record a `cryptoscope scan` as a run (the one place the CLI scan writes evidence)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agent.rules import DEFAULT_PROFILE, evaluate_endpoint
from agent.store import EndpointIdentity, Store
from agent.tls.model import EndpointScan

#: agent_id of runs recorded by `cryptoscope scan` (agents use their pod or node name).
CLI_AGENT_ID = "cli"


def record_scan(
    db_path: Path, results: Sequence[EndpointScan], *, profile: str = DEFAULT_PROFILE
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
                store.record_findings(
                    run_id, evaluate_endpoint(result, identity.subject_key, profile=profile)
                )
        except BaseException as exc:
            store.finish_run(run_id, status="failed", error=f"recording stopped: {exc}")
            raise
        store.finish_run(run_id)
        return run_id
