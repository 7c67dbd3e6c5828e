"""``cryptoscope demo``: start the fictional cluster on loopback, run one agent cycle, show the result.

The steps, each with a progress line:

1. work directory and the demo CA;
2. a real loopback server behind every pod port;
3. the loopback Key Vault, and the CSI mounts laid out as the kubelet lays them out;
4. the test Kubernetes API server, loaded with the cluster's manifests;
5. one agent cycle (``cryptoscope agent --once``, a child process configured
   through its environment exactly as the Helm chart configures it);
6. one documented waiver, the reports, and a signed evidence export, verified;
7. everything stopped;
8. the TUI on the database, or (``--no-tui``) a summary and the paths.

Everything started in steps 2–5 is held by one :class:`contextlib.ExitStack`;
SIGINT and SIGTERM unwind it (:mod:`inspector.demo.lifecycle`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from inspector.demo import agent_cycle, backends, cluster, evidence, manifests, summary, vault
from inspector.demo.lifecycle import (
    Interrupted,
    Progress,
    StepFailed,
    signals_ignored,
    signals_raise,
)
from inspector.demo.state import DemoState
from inspector.lab.keyvault import FakeKeyVault
from inspector.lab.kube_api import KubeAPIServer

STEPS = 8


@dataclasses.dataclass(frozen=True, slots=True)
class DemoOptions:
    workdir: Path | None = None
    tui: bool = True
    #: Seconds the agent cycle may take before the demo gives up on it.
    agent_timeout: float = 240.0
    #: Keep the fictional cluster up after the cycle (TUI open, or until Ctrl-C).
    keep_running: bool = False


def _workdir(requested: Path | None) -> Path:
    if requested is None:
        return Path(tempfile.mkdtemp(prefix="cryptoscope-demo-"))
    requested.mkdir(parents=True, exist_ok=True)
    return requested.resolve()


def _start_servers(
    stack: contextlib.ExitStack, keys: backends.DemoPKI, state: DemoState, progress: Progress
) -> dict[tuple[str, str, str], int]:
    ports: dict[tuple[str, str, str], int] = {}
    for item in cluster.WORKLOADS:
        for port in item.ports:
            label = f"{item.namespace}/{item.name}:{port.name}"
            try:
                server = backends.start_backend(port.backend, item, keys)
            except backends.BackendUnavailable as exc:
                progress.skipped(f"{label} ({port.backend}): {exc}")
                state.skipped.append(f"{label}: {exc}")
                continue
            stack.callback(server.stop)
            ports[(item.namespace, item.name, port.name)] = server.port
            state.endpoints[f"{item.namespace}/{item.name}/{port.name}"] = server.address
            progress.note(f"{label:<38} {server.address:<22} {port.backend}")
    return ports


def _start_pods(
    stack: contextlib.ExitStack, workdir: Path, state: DemoState, progress: Progress
) -> tuple[backends.DemoPKI, dict[tuple[str, str, str], int]]:
    progress.start("Starting a loopback server behind every pod port")
    keys = backends.make_pki(workdir / "pki", responder_host=cluster.OCSP_RESPONDER_IP)
    if keys.responder is not None:
        stack.callback(keys.responder.stop)
        state.services["ocsp"] = keys.responder.ocsp_url
        progress.note(f"{'demo CA OCSP responder':<38} {keys.responder.ocsp_url}")
    state.files["ca"] = str(keys.ca_file)
    ports = _start_servers(stack, keys, state, progress)
    if not ports:
        raise StepFailed("no server could start on 127.0.0.0/8")
    addresses = {address.rsplit(":", 1)[0] for address in state.endpoints.values()}
    progress.ok(f"{len(ports)} servers on {len(addresses)} pod addresses")
    state.save("servers")
    return keys, ports


def _start_vault(
    stack: contextlib.ExitStack,
    keys: backends.DemoPKI,
    kubelet_pods: Path,
    state: DemoState,
    progress: Progress,
) -> tuple[FakeKeyVault, list[vault.PlannedObject]]:
    progress.start("Starting the loopback Key Vault and laying out the CSI mounts")
    planned = vault.plan(keys.ca)
    key_vault = FakeKeyVault(tenant=cluster.TENANT_ID, client_id=cluster.WORKLOAD_CLIENT_ID)
    vault.fill_vault(key_vault, planned)
    stack.callback(key_vault.stop)  # registered first: stop() is safe before start()
    key_vault.start()
    state.services["keyvault"] = key_vault.url
    mounts = vault.write_mounts(kubelet_pods, planned)
    state.files["kubelet_pods_dir"] = str(kubelet_pods)
    progress.ok(
        f"vault {cluster.VAULT_NAME} at {key_vault.url} with {len(planned)} objects; "
        f"{len(mounts)} CSI volumes under {kubelet_pods}"
    )
    state.save("vault")
    return key_vault, planned


def _start_api(
    stack: contextlib.ExitStack,
    placement: manifests.Placement,
    workdir: Path,
    state: DemoState,
    progress: Progress,
) -> Path:
    """The test Kubernetes API server with the rendered cluster; returns the kubeconfig."""
    progress.start("Starting the test Kubernetes API server with the cluster's manifests")
    objects = manifests.render(cluster.WORKLOADS, placement)
    api = KubeAPIServer(gateway_api=True)
    for obj in objects:
        api.apply(obj)
    stack.callback(api.stop)
    api.start()
    state.services["kubernetes"] = api.url
    state.files["manifests"] = str(manifests.write_manifest(objects, workdir / "cluster.yaml"))
    kubeconfig = api.write_kubeconfig(workdir / "kubeconfig", context="cryptoscope-demo")
    state.files["kubeconfig"] = str(kubeconfig)
    namespaces = ", ".join(f"{ns.name} ({ns.scope})" for ns in cluster.NAMESPACES)
    progress.ok(f"{api.url}: {len(objects)} objects; namespaces {namespaces}")
    for gateway in cluster.GATEWAYS:
        progress.note(
            f"Gateway {gateway.namespace}/{gateway.name}: HTTPRoutes for "
            f"{', '.join(gateway.hostnames)} (data plane {gateway.data_plane})"
        )
    progress.note(
        f"Secrets Store CSI driver: DaemonSet {cluster.CSI_DRIVER_NAMESPACE}/"
        f"{cluster.CSI_DRIVER_DAEMONSET} (no --enable-secret-rotation)"
    )
    state.save("api")
    return kubeconfig


def _start_cluster(
    stack: contextlib.ExitStack, workdir: Path, state: DemoState, progress: Progress
) -> agent_cycle.ClusterHandles:
    keys, ports = _start_pods(stack, workdir, state, progress)
    kubelet_pods = workdir / "kubelet" / "pods"
    key_vault, planned = _start_vault(stack, keys, kubelet_pods, state, progress)
    placement = manifests.Placement(
        ports=ports,
        mounted_versions=vault.mounted_versions(planned),
        pinned_versions=vault.pinned_versions(planned),
        kubelet_pods_dir=kubelet_pods,
    )
    kubeconfig = _start_api(stack, placement, workdir, state, progress)
    return agent_cycle.ClusterHandles(
        kubeconfig=kubeconfig,
        ca_file=keys.ca_file,
        kubelet_pods_dir=kubelet_pods,
        key_vault=key_vault,
    )


def run_demo(options: DemoOptions, stream: TextIO | None = None) -> int:
    out = stream or sys.stdout
    progress = Progress(STEPS, out)
    progress.start("Preparing the work directory")
    workdir = _workdir(options.workdir)
    state = DemoState(workdir)
    db = workdir / "cryptoscope.db"
    state.files["database"] = str(db)
    state.save("starting")
    progress.ok(str(workdir))
    started = time.monotonic()
    outcome = 0
    cycle: agent_cycle.CycleResult | None = None
    stack = contextlib.ExitStack()
    try:
        with signals_raise():
            try:
                handles = _start_cluster(stack, workdir, state, progress)
                cycle = agent_cycle.run(
                    handles, db, workdir, state, progress, options.agent_timeout
                )
                if cycle.ok:
                    evidence.write(db, workdir, state, progress)
                if cycle.ok and options.keep_running:
                    return _keep_running(options, db, workdir, state, progress, out)
            finally:
                with signals_ignored():
                    progress.start("Stopping everything the demo started")
                    stack.close()
                    state.save("stopped")
                    progress.ok(
                        f"{len(state.endpoints)} servers, OCSP responder, Key Vault and "
                        "API server stopped"
                    )
    except Interrupted as exc:
        with signals_ignored():
            stack.close()  # idempotent; covers a signal that landed before cleanup began
            progress.line(f"interrupted by {exc}: everything the demo started has been stopped")
            state.save("interrupted")
        return exc.exit_code
    except StepFailed as exc:
        progress.failed(str(exc))
        state.save("failed")
        outcome = 1
    finally:
        stack.close()
    progress.start("Results" if not options.tui else "Opening the TUI")
    if cycle is None or not cycle.ok:
        summary.print_paths(state, out)
        return outcome or 1
    if _tui_possible(options):
        progress.note(f"demo took {time.monotonic() - started:.1f} s; press q to leave the TUI")
        return summary.open_tui(db, workdir)
    if options.tui:
        progress.note(
            "the TUI needs a terminal (and the tui command); printing the summary instead"
        )
    summary.print_summary(db, state, out)
    summary.print_paths(state, out)
    progress.line(f"demo took {time.monotonic() - started:.1f} s")
    return outcome


def _tui_possible(options: DemoOptions) -> bool:
    return options.tui and summary.tui_available() and sys.stdout.isatty()


def _keep_running(
    options: DemoOptions,
    db: Path,
    workdir: Path,
    state: DemoState,
    progress: Progress,
    out: TextIO,
) -> int:
    """The cluster stays up: the TUI is open on it (live), or the demo waits for Ctrl-C.

    Another agent cycle can be run by hand with the environment the demo gave
    the agent (``agent.env``); the TUI picks the new run up by itself.
    """
    env_file = state.files["agent_env"]
    legacy = state.endpoints.get("payments/card-gateway-legacy/https", "")
    summary.print_summary(db, state, out)
    summary.print_paths(state, out)
    progress.line("")
    progress.line("The fictional cluster keeps running. In another terminal, for example:")
    if legacy:
        progress.line(f"  cryptoscope scan {legacy} --ca-file {state.files['ca']} --no-db")
    progress.line(f"  env $(cat {env_file}) cryptoscope agent    # one more agent cycle")
    progress.line(f"  cryptoscope tui {db}")
    state.save("running")
    if _tui_possible(options):
        progress.line("Leaving the TUI (q) stops the cluster.")
        return summary.open_tui(db, workdir)
    progress.line("Press Ctrl-C to stop it.")
    try:
        while True:
            time.sleep(3600)
    except Interrupted:
        return 0
