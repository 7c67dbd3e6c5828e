"""Step 5: one agent cycle against the fictional cluster, as ``cryptoscope agent --once``.

The agent runs as a child process configured only through its environment —
the same variables the Helm chart sets (names from :mod:`agent.config`) plus
the ones the Azure workload-identity webhook injects — pointed at the loopback
Kubernetes API, the kubelet tree and the loopback Key Vault.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from pathlib import Path

from agent.config import SETTINGS_BY_NAME
from inspector.demo import cluster
from inspector.demo.children import (
    available_commands,
    clean_environment,
    cryptoscope_command,
    run_child,
    settings_environment,
)
from inspector.demo.lifecycle import Progress
from inspector.demo.state import DemoState
from inspector.lab.keyvault import FakeKeyVault

AGENT_ID = "demo-agent"


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterHandles:
    kubeconfig: Path
    ca_file: Path
    kubelet_pods_dir: Path
    key_vault: FakeKeyVault


@dataclasses.dataclass(frozen=True, slots=True)
class CycleResult:
    ok: bool
    reason: str = ""
    endpoints: int = 0
    findings: int = 0


def vault_wiring_available() -> bool:
    """True when this agent build can be pointed at a vault by URL (else it would look up Azure's DNS)."""
    return "keyvault_urls" in SETTINGS_BY_NAME


def agent_settings(handles: ClusterHandles, db: Path) -> dict[str, object]:
    """The agent's settings for the demo, by name (see :data:`agent.config.SETTINGS`)."""
    return {
        "mode": "daemonset",
        "node_name": cluster.NODE_NAME,
        "agent_id": AGENT_ID,
        "db": db,
        "kubeconfig": handles.kubeconfig,
        "ca_file": handles.ca_file,
        "kubelet_pods_dir": handles.kubelet_pods_dir,
        "once": True,
        "watch": False,
        # Ingress/Gateway hosts: the Gateway's HTTPRoute hostnames, probed with their SNI.
        "ingress": True,
        # Revocation (K7): the demo leaves name only the loopback OCSP responder.
        "check_revocation": True,
        "revocation_timeout": 5.0,
        "connect_timeout": 3.0,
        "read_timeout": 5.0,
        "endpoint_deadline": 60.0,
        "cycle_deadline": 180.0,
        # Never let the agent resolve <vault>.vault.azure.net: only the loopback vault, or none.
        "keyvault_enabled": vault_wiring_available(),
        "keyvault_urls": f"{cluster.VAULT_NAME}={handles.key_vault.url}",
        "keyvault_ca_file": handles.key_vault.ca_file,
        # The loopback vault's challenge names https://vault.azure.net, not 127.0.0.1.
        "keyvault_verify_challenge_resource": False,
    }


def workload_identity_environment(handles: ClusterHandles, workdir: Path) -> dict[str, str]:
    """What the Azure workload-identity webhook injects into a pod, pointed at the loopback authority."""
    token_file = workdir / "azure-identity-token"
    token_file.write_text(handles.key_vault.federated_token)
    token_file.chmod(0o600)
    return {
        "AZURE_CLIENT_ID": cluster.WORKLOAD_CLIENT_ID,
        "AZURE_TENANT_ID": cluster.TENANT_ID,
        "AZURE_FEDERATED_TOKEN_FILE": str(token_file),
        "AZURE_AUTHORITY_HOST": handles.key_vault.authority,
        # azure-identity's token request goes through requests: trust the loopback authority's CA.
        "REQUESTS_CA_BUNDLE": handles.key_vault.ca_file,
    }


def _counts(db: Path) -> tuple[int, int]:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            endpoints = conn.execute("SELECT count(*) FROM endpoints").fetchone()[0]
            findings = conn.execute(
                "SELECT count(*) FROM findings WHERE resolved_at IS NULL"
            ).fetchone()[0]
    except sqlite3.Error:
        return 0, 0
    return int(endpoints), int(findings)


def run(
    handles: ClusterHandles,
    db: Path,
    workdir: Path,
    state: DemoState,
    progress: Progress,
    timeout: float,
) -> CycleResult:
    progress.start("Running one agent cycle (cryptoscope agent --once)")
    if "agent" not in available_commands():
        reason = "the `agent` command is not part of this build"
        progress.skipped(reason)
        state.skipped.append(f"agent cycle: {reason}")
        return CycleResult(False, reason)
    if not vault_wiring_available():
        reason = "Key Vault comparison: this agent build cannot be pointed at the loopback vault"
        progress.skipped(reason)
        state.skipped.append(reason)
    log = workdir / "agent.log"
    state.files["agent_log"] = str(log)
    demo_env = {
        **settings_environment(agent_settings(handles, db)),
        **workload_identity_environment(handles, workdir),
    }
    env = {**clean_environment(), **demo_env}
    # The same environment, kept so that another cycle can be run by hand (--keep-running).
    env_file = workdir / "agent.env"
    env_file.write_text("".join(f"{key}={value}\n" for key, value in sorted(demo_env.items())))
    env_file.chmod(0o600)
    state.files["agent_env"] = str(env_file)

    def started(pid: int) -> None:
        progress.note(f"agent pid {pid}, log {log}")
        state.save("agent")

    code = run_child(cryptoscope_command("agent"), env, log, timeout, on_start=started)
    endpoints, findings = _counts(db)
    if code != 0 and endpoints == 0:
        reason = f"the agent exited with {code}; see {log}"
        progress.failed(reason)
        state.skipped.append(f"agent cycle: {reason}")
        return CycleResult(False, reason)
    if code != 0:
        progress.note(f"the agent exited with {code} (a partial cycle); see {log}")
    progress.ok(f"{endpoints} endpoints and {findings} open findings in {db}")
    state.save("cycle")
    return CycleResult(True, endpoints=endpoints, findings=findings)
