"""The agent loop: discover → probe → rules → store, every interval with jitter.

One cycle (:meth:`Agent.run_cycle`):

1. ``begin_run`` in the store;
2. discovery (Kubernetes API, paged) → targets with their identity;
3. probing in chunks (the prober's own concurrency bounds each chunk); each
   chunk's scans and findings are written as soon as they are known, so a cut
   cycle (deadline, SIGTERM) keeps everything finished before the cut;
4. the *inspectors* (e.g. CSI-mounted secrets), each isolated: one failing is
   recorded as an error of the run and never blocks the TLS side;
5. ``finish_run`` (ok, partial, failed or interrupted), retention, metrics.

Between cycles the loop sleeps for the interval plus jitter, or less when the
pod watcher reports a change (never less than ``min_cycle_gap``); after
Kubernetes API errors it backs off exponentially up to ``api_backoff_max``.
A stop request (SIGTERM) lets the write in progress finish, marks the run
interrupted and returns.

Inspectors are plain callables ``inspect(context: CycleContext) -> Iterable[str] | None``
(returning the subject keys they covered, so findings no longer seen there get
resolved). Built-in ones are found in :data:`INSPECTOR_MODULES`, each module
exposing a function ``inspect``; tests and embedders pass their own list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import logging
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import parse_egress_targets, parse_port_list
from agent.discovery import (
    ClusterState,
    DiscoveredTarget,
    DiscoveryError,
    DiscoveryScope,
    KubeReader,
    plan_targets,
)
from agent.rules import RuleSettings, evaluate_endpoint
from agent.server import AgentMetrics, CycleReport, Health
from agent.store import EndpointIdentity, Store
from agent.tls.model import EndpointScan, ScanOptions, Target

log = logging.getLogger(__name__)

Prober = Callable[[Sequence[Target], ScanOptions], Awaitable[Sequence[EndpointScan]]]

#: Modules whose ``inspect(context)`` runs every cycle after discovery, when they exist.
INSPECTOR_MODULES: tuple[str, ...] = ("agent.secrets.inspector",)


@dataclasses.dataclass(frozen=True)
class CycleContext:
    """What an inspector gets: the run to write into, and what discovery found."""

    run_id: int
    store: Store
    settings: Any  # agent.config.AgentSettings
    state: ClusterState
    targets: tuple[DiscoveredTarget, ...]
    #: time.monotonic() value by which the inspector must be done.
    deadline: float
    #: Set when the agent is stopping: return promptly.
    stopping: threading.Event


Inspector = Callable[[CycleContext], Iterable[str] | None]


@dataclasses.dataclass(frozen=True, slots=True)
class NamedInspector:
    name: str
    inspect: Inspector


def load_inspectors(modules: Iterable[str] = INSPECTOR_MODULES) -> list[NamedInspector]:
    """The built-in inspectors: each module's `inspect(context)`."""
    found: list[NamedInspector] = []
    for name in modules:
        inspect = getattr(importlib.import_module(name), "inspect", None)
        if not callable(inspect):
            raise TypeError(f"inspector module {name} has no inspect(context) function")
        found.append(NamedInspector(name.rsplit(".", 1)[-1], inspect))
    return found


def default_prober() -> Prober:
    """`agent.tls.scan_endpoints`, imported when first needed."""
    from agent.tls import scan_endpoints

    return scan_endpoints


def identity_of(item: DiscoveredTarget) -> EndpointIdentity:
    return EndpointIdentity(
        ip=item.target.host,
        port=item.target.port,
        sni=item.target.sni,
        namespace=item.namespace or None,
        workload_kind=item.workload_kind or None,
        workload_name=item.workload_name or None,
        pod=item.pod or None,
        node=item.node or None,
        service=item.service or None,
        purpose=item.purpose or None,
        scope=item.scope or None,
    )


def scope_of(settings: Any) -> DiscoveryScope:
    return DiscoveryScope(
        mode=settings.mode,
        node_name=settings.node_name,
        pod_name=settings.pod_name,
        pod_namespace=settings.pod_namespace,
        cluster_domain=settings.cluster_domain,
        ingress=settings.ingress,
        ingress_service=settings.ingress_service,
        egress=parse_egress_targets(settings.egress_targets),
        # a sidecar never probes its own HTTPS endpoint
        sidecar_exclude_ports=(
            *parse_port_list(settings.sidecar_exclude_ports),
            _listen_port(settings.listen),
        ),
    )


def _listen_port(listen: str) -> int:
    port = listen.rpartition(":")[2]
    return int(port) if port.isdigit() else 0


def agent_identity(settings: Any) -> str:
    return str(settings.agent_id or settings.pod_name or socket.gethostname())


class _Cut(Exception):
    """Probing stopped early: `reason` is 'deadline' or 'stopping'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Agent:
    def __init__(
        self,
        settings: Any,
        *,
        store: Store,
        reader: KubeReader | None,
        prober: Prober | None = None,
        inspectors: Sequence[NamedInspector] | None = None,
        metrics: AgentMetrics | None = None,
        health: Health | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.reader = reader
        self._prober = prober
        self.inspectors = list(load_inspectors() if inspectors is None else inspectors)
        self.metrics = metrics or AgentMetrics()
        self.health = health or Health(
            stale_after=settings.cycle_deadline + settings.scan_interval * 2 + 60
        )
        self.scope = scope_of(settings)
        self.agent_id = agent_identity(settings)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.api_failures = 0
        self.store.mark_interrupted(self.agent_id)

    @property
    def prober(self) -> Prober:
        if self._prober is None:
            self._prober = default_prober()
        return self._prober

    def scan_options(self) -> ScanOptions:
        return ScanOptions(
            connect_timeout=self.settings.connect_timeout,
            read_timeout=self.settings.read_timeout,
            endpoint_deadline=self.settings.endpoint_deadline,
            concurrency=self.settings.concurrency,
            ca_file=self.settings.ca_file or None,
            check_revocation=self.settings.check_revocation,
            revocation_timeout=self.settings.revocation_timeout,
        )

    # ------------------------------------------------------------------ one cycle

    def _discover(self) -> tuple[ClusterState, tuple[DiscoveredTarget, ...]]:
        # no Kubernetes access: the declared egress targets only
        state = ClusterState() if self.reader is None else self.reader.read_state(self.scope)
        return state, plan_targets(state, self.scope)

    async def _probe_chunk(
        self, chunk: Sequence[DiscoveredTarget], deadline: float
    ) -> Sequence[EndpointScan]:
        task = asyncio.ensure_future(
            self.prober([item.target for item in chunk], self.scan_options())
        )
        while not task.done():
            if self.stopping.is_set() or time.monotonic() >= deadline:
                task.cancel()
                with _suppress_cancel():
                    await task
                raise _Cut("stopping" if self.stopping.is_set() else "deadline")
            await asyncio.wait({task}, timeout=0.2)
        return task.result()

    def _record_chunk(
        self,
        run_id: int,
        chunk: Sequence[DiscoveredTarget],
        scans: Sequence[EndpointScan],
        tally: _CycleTally,
    ) -> None:
        by_key = {(scan.host, scan.port, scan.sni): scan for scan in scans}
        pairs: list[tuple[EndpointIdentity, EndpointScan]] = []
        seen = tally.subjects
        for index, item in enumerate(chunk):
            scan = by_key.get(item.key) or (scans[index] if index < len(scans) else None)
            if scan is None:
                self.store.record_error(
                    run_id,
                    "prober returned no result",
                    stage="probe",
                    subject_key=identity_of(item).subject_key,
                )
                continue
            identity = identity_of(item)
            if identity.subject_key in seen:  # e.g. an SNI equal to the IP: the same subject once
                continue
            seen.add(identity.subject_key)
            pairs.append((identity, scan))
        self.store.record_endpoint_scans(run_id, pairs)
        now = datetime.now(UTC)
        rule_settings = RuleSettings.from_agent_settings(self.settings)
        findings = [
            finding
            for identity, scan in pairs
            for finding in evaluate_endpoint(
                scan,
                identity.subject_key,
                profile=self.settings.profile,
                settings=rule_settings,
                now=now,
            )
        ]
        self.store.record_findings(run_id, findings)
        for _, scan in pairs:
            tally.transports[str(scan.transport)] += 1
            tally.durations.append(scan.duration_s)
        for finding in findings:
            for requirement in finding.requirements or ("",):
                tally.findings[(str(finding.severity), requirement)] += 1

    def run_cycle(self) -> CycleReport:
        started = time.monotonic()
        deadline = started + self.settings.cycle_deadline
        tally = _CycleTally()
        self.health.beat()
        run_id = self.store.begin_run(
            agent_id=self.agent_id,
            mode=self.settings.mode,
            node=self.settings.node_name or None,
            profile=self.settings.profile,
        )
        status, error = "ok", None
        covered: list[str] = []
        try:
            try:
                state, targets = self._discover()
                self.api_failures = 0
            except DiscoveryError as exc:
                self.api_failures += 1
                self.metrics.api_errors.inc()
                self.store.record_error(run_id, f"discovery failed: {exc}", stage="discovery")
                status, error = "failed", f"discovery failed: {exc}"
                return self._finish(run_id, status, error, started, tally, covered)
            for warning in state.warnings:
                self.store.record_error(run_id, warning, stage="discovery")
                status = "partial"
            log.info("cycle: %d targets", len(targets))
            chunk_size = self.settings.concurrency * 2
            for offset in range(0, len(targets), chunk_size):
                chunk = targets[offset : offset + chunk_size]
                try:
                    scans = asyncio.run(self._probe_chunk(chunk, deadline))
                except _Cut as cut:
                    left = len(targets) - offset
                    if cut.reason == "stopping":
                        status, error = "interrupted", f"stopped: {left} endpoints not probed"
                    else:
                        status = "partial"
                        error = f"cycle deadline of {self.settings.cycle_deadline:g}s reached: {left} endpoints not probed"
                    self.store.record_error(run_id, error, stage="cycle")
                    break
                self._record_chunk(run_id, chunk, scans, tally)
                self.health.beat()
            if status != "interrupted":
                status = self._run_inspectors(run_id, state, targets, deadline, covered, status)
        except Exception as exc:  # noqa: BLE001 - a cycle never kills the agent
            log.exception("cycle failed")
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            try:
                self.store.record_error(run_id, error, stage="cycle")
            except Exception:  # noqa: BLE001 - the store failing too: logged, the run is still finished
                log.exception("could not record the cycle error")
        return self._finish(run_id, status, error, started, tally, covered)

    def _run_inspectors(
        self,
        run_id: int,
        state: ClusterState,
        targets: tuple[DiscoveredTarget, ...],
        deadline: float,
        covered: list[str],
        status: str,
    ) -> str:
        for inspector in self.inspectors:
            if self.stopping.is_set():
                return "interrupted"
            context = CycleContext(
                run_id, self.store, self.settings, state, targets, deadline, self.stopping
            )
            try:
                covered += list(inspector.inspect(context) or ())
            except Exception as exc:  # noqa: BLE001 - isolated: recorded, the cycle goes on
                log.warning("inspector %s failed: %s: %s", inspector.name, type(exc).__name__, exc)
                self.store.record_error(
                    run_id,
                    f"inspector {inspector.name} failed: {type(exc).__name__}: {exc}",
                    stage=f"inspector:{inspector.name}",
                )
                status = "partial"
            self.health.beat()
        return status

    def _finish(
        self,
        run_id: int,
        status: str,
        error: str | None,
        started: float,
        tally: _CycleTally,
        covered: list[str],
    ) -> CycleReport:
        self.store.finish_run(run_id, status=status, error=error, covered_subject_keys=covered)
        if status in ("ok", "partial"):
            self.store.prune(self.settings.retention_runs, agent_id=self.agent_id)
            self.health.ready = True
        report = CycleReport(
            status=status,
            duration_s=time.monotonic() - started,
            finished_at=time.time(),
            endpoints_by_transport=dict(tally.transports),
            findings=dict(tally.findings),
            endpoint_durations=tuple(tally.durations),
        )
        self.metrics.observe(report)
        self.health.beat()
        log.info(
            "cycle %s in %.1fs: %d endpoints",
            status,
            report.duration_s,
            sum(tally.transports.values()),
        )
        return report

    # ------------------------------------------------------------------ the loop

    def next_delay(self) -> float:
        """Seconds until the next cycle: backoff after API failures, else the interval plus jitter."""
        if self.api_failures:
            base = min(self.settings.api_backoff_max, 5.0 * 2 ** (self.api_failures - 1))
            return base * random.uniform(0.5, 1.0)
        return self.settings.scan_interval * (1 + random.uniform(0, max(0.0, self.settings.jitter)))

    def run_forever(self) -> None:
        """Cycles until :attr:`stopping` is set."""
        while not self.stopping.is_set():
            cycle_started = time.monotonic()
            self.run_cycle()
            if self.stopping.is_set():
                return
            wait_until = time.monotonic() + self.next_delay()
            earliest = cycle_started + self.settings.min_cycle_gap
            self.wake.clear()
            while not self.stopping.is_set():
                now = time.monotonic()
                if now >= wait_until:
                    break
                if self.wake.wait(timeout=min(5.0, wait_until - now)):
                    # a pod changed: go early, but not before the minimum gap (and not while backing off)
                    if not self.api_failures:
                        wait_until = max(earliest, time.monotonic())
                    self.wake.clear()
                self.health.beat()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()


@dataclasses.dataclass
class _CycleTally:
    transports: Counter[str] = dataclasses.field(default_factory=Counter)
    findings: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    durations: list[float] = dataclasses.field(default_factory=list)
    #: subject keys recorded in this run (one scan per subject and run)
    subjects: set[str] = dataclasses.field(default_factory=set)


class _suppress_cancel:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        return exc_type is not None and issubclass(exc_type, (asyncio.CancelledError, Exception))


def database_path(settings: Any) -> Path:
    return Path(settings.db)


def serve(settings: Any, *, prober: Prober | None = None, install_signals: bool = True) -> int:
    """Run the agent as `cryptoscope agent` does: HTTPS endpoint, pod watcher, the loop.

    Returns the exit code: 0 after a clean stop (SIGTERM/SIGINT) or a good
    ``--once`` cycle, 1 when the ``--once`` cycle failed.
    """
    import signal

    from agent.auth import Authorizer, ResourceAttributes
    from agent.discovery import PodWatcher, api_client
    from agent.server import AgentServer, server_context

    api = api_client(
        settings.kubeconfig, settings.context
    )  # KubeConfigError: the caller reports it
    reader = KubeReader(api, page_size=settings.page_size, timeout=settings.api_timeout)
    store = Store.open(database_path(settings))
    agent = Agent(settings, store=store, reader=reader, prober=prober)

    def request_stop(signum: int, _frame: object) -> None:
        log.info("signal %d: finishing the current write, then stopping", signum)
        agent.stop()

    if install_signals:
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    server = None
    watcher = None
    try:
        if settings.once:
            report = agent.run_cycle()
            return 0 if report.status in ("ok", "partial") or agent.stopping.is_set() else 1
        attributes = ResourceAttributes(
            verb=settings.authz_verb,
            group=settings.authz_group,
            resource=settings.authz_resource,
            subresource=settings.authz_subresource,
            namespace=settings.authz_namespace or settings.pod_namespace,
        )
        authorizer = Authorizer(api, attributes, timeout=settings.api_timeout)
        names = ("localhost", "127.0.0.1", settings.pod_name, socket.gethostname())
        context = server_context(settings.tls_cert_file, settings.tls_key_file, names)
        server = AgentServer(
            listen=settings.listen,
            db_path=database_path(settings),
            metrics=agent.metrics,
            health=agent.health,
            authorizer=authorizer,
            context=context,
            provenance={"agent_id": agent.agent_id, "node": settings.node_name},
        ).start()
        log.info("HTTPS endpoint on %s (port %d)", settings.listen, server.port)
        if settings.watch:
            watcher = PodWatcher(
                api,
                agent.scope,
                agent.wake.set,
                timeout=settings.api_timeout,
                backoff_max=settings.api_backoff_max,
            ).start()
        agent.run_forever()
        return 0
    finally:
        if watcher is not None:
            watcher.stop()
        if server is not None:
            server.stop()
        store.close()
