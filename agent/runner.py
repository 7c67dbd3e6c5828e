"""The agent loop: discover → probe → rules → store, every interval with jitter.

One cycle (:meth:`Agent.run_cycle`):

1. ``begin_run`` in the store;
2. discovery (Kubernetes API, paged) → targets with their identity, and the
   cycle's deadline (``--cycle-deadline auto``: sized to the planned targets,
   :func:`auto_cycle_deadline`);
3. probing, least recently probed target first, ``concurrency`` at once; scans
   and findings are written in small batches as they finish, so a cut cycle
   (deadline, SIGTERM) keeps everything finished before the cut, and the
   targets it left out come first in the next cycle;
4. the *inspectors* (e.g. CSI-mounted secrets), each isolated: one failing is
   recorded as an error of the run and never blocks the TLS side;
5. ``finish_run`` (ok, partial, failed or interrupted), retention, metrics.

Between cycles the loop sleeps for the interval plus jitter, or less when the
pod watcher reports a change (never less than ``min_cycle_gap``); after
Kubernetes API errors it backs off exponentially up to ``api_backoff_max``.
A stop request (SIGTERM) lets the write in progress finish, marks the run
interrupted and returns.

Every error text stored or logged goes through :mod:`agent.errors` (the type
and a safe reason, never the input that caused it).

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
import math
import random
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.config import AUTO, parse_egress_targets, parse_port_list
from agent.discovery import (
    ClusterState,
    DiscoveredTarget,
    DiscoveryError,
    DiscoveryScope,
    KubeReader,
    discover,
)
from agent.errors import describe_error, safe_text
from agent.rules import RuleSettings, evaluate_endpoint
from agent.server import AgentMetrics, CycleReport, Health
from agent.store import EndpointIdentity, Store
from agent.tls.model import EndpointScan, ScanOptions, Target

log = logging.getLogger(__name__)

Prober = Callable[[Sequence[Target], ScanOptions], Awaitable[Sequence[EndpointScan]]]

#: Modules whose ``inspect(context)`` runs every cycle after discovery, when they exist.
INSPECTOR_MODULES: tuple[str, ...] = ("agent.secrets.inspector", "agent.discovery.csi_driver")


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


def auto_cycle_deadline(
    planned: int, *, concurrency: int, endpoint_deadline: float, scan_interval: float
) -> float:
    """``--cycle-deadline auto``: seconds for a cycle with ``planned`` endpoints.

    Room for every endpoint to use its whole endpoint deadline, ``concurrency``
    at a time (the worst case the agent's own bounds allow), plus one such wave
    for the writes and the inspectors, and never less than the scan interval. A cycle is then cut only when something broke those bounds
    (or on a stop), whatever the number of endpoints.
    """
    # one wave more than the endpoints need: the writes, the rules and the inspectors
    waves = math.ceil(max(0, planned) / max(1, concurrency)) + 1
    return max(float(scan_interval), waves * float(endpoint_deadline))


def cycle_deadline_s(settings: Any, planned: int) -> float:
    """The cycle deadline in seconds: the explicit ``--cycle-deadline``, or the auto budget."""
    if settings.cycle_deadline == AUTO:
        return auto_cycle_deadline(
            planned,
            concurrency=settings.concurrency,
            endpoint_deadline=settings.endpoint_deadline,
            scan_interval=settings.scan_interval,
        )
    return float(settings.cycle_deadline)


def liveness_window(settings: Any, deadline_s: float) -> float:
    """Seconds without a beat after which /healthz says the loop stalled.

    A cycle may take its deadline and the wait after it an interval plus jitter;
    the loop beats in between, so this is generous and follows the deadline.
    """
    return float(deadline_s) + settings.scan_interval * 2 + 60


class _Cut(Exception):
    """Probing stopped early: `reason` is 'deadline' or 'stopping'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass
class _Probed:
    """Results of the probing phase, collected by the workers and written in batches."""

    #: finished targets not yet written: the prober's scans, or the exception it raised
    pending: list[tuple[DiscoveredTarget, Sequence[EndpointScan] | Exception]] = dataclasses.field(
        default_factory=list
    )
    #: targets with an outcome (written or pending)
    done: int = 0


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
            stale_after=liveness_window(settings, cycle_deadline_s(settings, 0))
        )
        self.scope = scope_of(settings)
        self.agent_id = agent_identity(settings)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.api_failures = 0
        #: The deadline of the current (or last) cycle in seconds, once discovery planned it.
        self.cycle_deadline_s: float | None = None
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
        # malformed objects left out come back as warnings, recorded like the reader's own
        return discover(self.reader, self.scope)

    def probe_order(self, targets: Sequence[DiscoveredTarget]) -> tuple[DiscoveredTarget, ...]:
        """Least recently probed first: endpoints never probed (new, or left out by a cut
        cycle), then the oldest scans; the planned order among equals. A node that never
        finishes a cycle still probes every endpoint in turn."""
        last_probed = dict(self.store.db.execute("SELECT subject_key, last_seen FROM endpoints"))
        return tuple(
            sorted(targets, key=lambda item: last_probed.get(identity_of(item).subject_key) or "")
        )

    async def _probe(
        self, run_id: int, targets: Sequence[DiscoveredTarget], deadline: float, tally: _CycleTally
    ) -> tuple[int, _Cut | None]:
        """Probe ``targets`` in order, ``concurrency`` at once; write results as they come.

        Returns (targets with an outcome, the cut if the deadline or a stop came first).
        Everything finished before a cut is written.
        """
        options = self.scan_options()
        queue = iter(targets)
        probed = _Probed()

        async def worker() -> None:
            for item in queue:
                try:
                    outcome: Sequence[EndpointScan] | Exception = await self.prober(
                        [item.target], options
                    )
                except Exception as exc:  # noqa: BLE001 - one endpoint's failure is recorded, the others go on
                    outcome = exc
                probed.pending.append((item, outcome))
                probed.done += 1

        batch = max(1, self.settings.concurrency * 2)
        workers = [
            asyncio.ensure_future(worker())
            for _ in range(min(len(targets), max(1, self.settings.concurrency)))
        ]
        cut: _Cut | None = None
        written_at = time.monotonic()
        try:
            while running := [task for task in workers if not task.done()]:
                if self.stopping.is_set() or time.monotonic() >= deadline:
                    cut = _Cut("stopping" if self.stopping.is_set() else "deadline")
                    break
                await asyncio.wait(running, timeout=0.2)
                if len(probed.pending) >= batch or (
                    probed.pending and time.monotonic() - written_at >= 1.0
                ):
                    self._record_probed(run_id, probed, tally)
                    written_at = time.monotonic()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        self._record_probed(run_id, probed, tally)  # everything finished before a cut, too
        return probed.done, cut

    def _record_probed(self, run_id: int, probed: _Probed, tally: _CycleTally) -> None:
        if not probed.pending:
            return
        finished, probed.pending = probed.pending, []
        chunk: list[DiscoveredTarget] = []
        scans: list[EndpointScan | None] = []
        for item, outcome in finished:
            if isinstance(outcome, Exception):
                text = f"prober failed: {describe_error(outcome)}"
                log.warning("%s:%s %s", item.target.host, item.target.port, text)
                self._record_error(
                    run_id, text, stage="probe", subject_key=identity_of(item).subject_key
                )
                tally.failed += 1
                continue
            chunk.append(item)
            scans.append(_scan_for(item, outcome))
        self._record_chunk(run_id, chunk, scans, tally)
        self.health.beat()

    def _record_error(
        self, run_id: int, message: str, *, stage: str, subject_key: str | None = None
    ) -> None:
        """Every error the agent stores goes through here: :func:`agent.errors.safe_text`."""
        self.store.record_error(run_id, safe_text(message), stage=stage, subject_key=subject_key)

    def _record_chunk(
        self,
        run_id: int,
        chunk: Sequence[DiscoveredTarget],
        scans: Sequence[EndpointScan | None],
        tally: _CycleTally,
    ) -> None:
        """Write the scans of ``chunk`` (``scans[i]`` belongs to ``chunk[i]``) and their findings."""
        pairs: list[tuple[EndpointIdentity, EndpointScan]] = []
        seen = tally.subjects
        for item, scan in zip(chunk, scans, strict=True):
            if scan is None:
                self._record_error(
                    run_id,
                    "prober returned no result",
                    stage="probe",
                    subject_key=identity_of(item).subject_key,
                )
                tally.failed += 1
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
        tally = _CycleTally()
        self.health.beat()
        run_id = self.store.begin_run(
            agent_id=self.agent_id,
            mode=self.settings.mode,
            node=self.settings.node_name or None,
            profile=self.settings.profile,
            environment=self.settings.environment,
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
                error = f"discovery failed: {describe_error(exc)}"
                log.warning("%s", error)
                self._record_error(run_id, error, stage="discovery")
                return self._finish(run_id, "failed", error, started, tally, covered)
            for warning in state.warnings:
                self._record_error(run_id, warning, stage="discovery")
                status = "partial"
            deadline_s = self.cycle_deadline_s = cycle_deadline_s(self.settings, len(targets))
            # an explicit deadline counts from the cycle's start; the auto one is the
            # probing budget for what discovery planned, from now
            deadline = (
                time.monotonic() if self.settings.cycle_deadline == AUTO else started
            ) + deadline_s
            self.health.stale_after = max(
                self.health.stale_after, liveness_window(self.settings, deadline_s)
            )
            log.info("cycle: %d targets, deadline %.0fs", len(targets), deadline_s)
            ordered = self.probe_order(targets)
            done, cut = asyncio.run(self._probe(run_id, ordered, deadline, tally))
            if tally.failed and status == "ok":
                status = "partial"
            if cut is not None:
                left = len(targets) - done
                if cut.reason == "stopping":
                    status, error = "interrupted", f"stopped: {left} endpoints not probed"
                else:
                    how = "auto, " if self.settings.cycle_deadline == AUTO else ""
                    status, error = (
                        "partial",
                        f"cycle deadline of {deadline_s:g}s ({how}{len(targets)} endpoints) reached:"
                        f" {left} endpoints not probed, they come first next cycle",
                    )
                log.warning("%s", error)
                self._record_error(run_id, error, stage="cycle")
            if status != "interrupted":
                status = self._run_inspectors(run_id, state, targets, deadline, covered, status)
        except Exception as exc:  # noqa: BLE001 - a cycle never kills the agent
            status, error = "failed", describe_error(exc)
            # the frames say where; the message is reduced like every stored text
            log.error("cycle failed: %s", error)
            log.debug("cycle failure at:\n%s", "".join(traceback.format_tb(exc.__traceback__)))
            try:
                self._record_error(run_id, error, stage="cycle")
            except Exception as again:  # noqa: BLE001 - the store failing too: logged, the run is still finished
                log.error("could not record the cycle error: %s", describe_error(again))
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
                text = f"inspector {inspector.name} failed: {describe_error(exc)}"
                log.warning("%s", text)
                self._record_error(run_id, text, stage=f"inspector:{inspector.name}")
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
        self.store.finish_run(
            run_id,
            status=status,
            error=None if error is None else safe_text(error),
            covered_subject_keys=covered,
        )
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
    #: endpoints the prober failed on or gave no result for
    failed: int = 0


def _scan_for(item: DiscoveredTarget, scans: Sequence[EndpointScan]) -> EndpointScan | None:
    """The prober's scan of ``item`` (it was asked for that one target)."""
    for scan in scans:
        if (scan.host, scan.port, scan.sni) == item.key:
            return scan
    return scans[0] if len(scans) == 1 else None


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
