"""The TUI on a generated 100,000-endpoint database: first screen, filter latency, event-loop stalls.

Targets (issue 6): first screen <= 1 s, filter result <= 150 ms, no event-loop stall over 100 ms.
Prints figures; asserts nothing (timings depend on the machine and its load).

    python benchmarks/bench_tui.py                       # generates the database once (minutes)
    python benchmarks/bench_tui.py --db existing.db      # reuse a generated database

The database comes from :mod:`inspector.lab.synthetic` (the store's real write API).
The app runs headless (``App.run_test``) at 160x50; a 20 ms interval timer on the
event loop records the longest gap between ticks (the UI's worst freeze).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from textual.css.query import NoMatches  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from inspector.lab.synthetic import DEFAULT_NOW, generate  # noqa: E402
from inspector.tui import queries  # noqa: E402
from inspector.tui.app import CryptoscopeApp  # noqa: E402
from inspector.tui.database import connect_readonly  # noqa: E402
from inspector.tui.filtering import compile_filter  # noqa: E402
from inspector.tui.screens.endpoint import EndpointScreen  # noqa: E402
from inspector.tui.screens.overview import OverviewScreen  # noqa: E402
from inspector.tui.screens.table import TableScreen  # noqa: E402

#: Filters an operator types on the endpoints view.
FILTERS = (
    "ns:payments",
    "transport:plaintext",
    "!transport:tls",
    "port>8000",
    "pod:api-*",
    "ledger",
    "grade=F",
)
TICK_S = 0.02


class StallMeter:
    """Longest gap between 20 ms ticks of an interval timer on the app's event loop."""

    def __init__(self) -> None:
        self.last = time.perf_counter()
        self.worst = 0.0
        self.where = ""
        self.phase = "start"
        #: The longest gap seen in each phase.
        self.by_phase: dict[str, float] = {}

    def tick(self) -> None:
        now = time.perf_counter()
        gap = now - self.last - TICK_S
        if gap > self.worst:
            self.worst, self.where = gap, self.phase
        if gap > self.by_phase.get(self.phase, 0.0):
            self.by_phase[self.phase] = gap
        self.last = now


class GcMeter:
    """Garbage-collector passes per generation: how many, and the longest (they stop every thread)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.passes: dict[int, list[float]] = {}

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.passes.setdefault(info["generation"], []).append(
                time.perf_counter() - self.started
            )

    def figures(self) -> dict[str, float]:
        return {
            f"generation {generation}: {len(times)} passes, longest": max(times)
            for generation, times in sorted(self.passes.items())
        }


def _holds(condition: Callable[[], bool]) -> bool:
    try:
        return condition()
    except NoMatches:  # the screen is not composed yet
        return False


def _loaded_more(screen: TableScreen, loads: int) -> bool:
    return screen.load_count > loads


async def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.perf_counter() + timeout
    while not _holds(condition):
        if time.perf_counter() > deadline:
            raise TimeoutError("the app never got there")
        await asyncio.sleep(0.002)


async def painted_now(pilot: Pilot[Any]) -> None:
    """Let the screen process what is pending, then paint it (``Pilot.pause`` without its wait for
    the whole process to go idle, which would also wait for the row count running in a thread)."""
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


async def run_app(db: Path) -> dict[str, object]:
    figures: dict[str, object] = {}
    meter = StallMeter()
    started = time.perf_counter()
    cpu_started = time.process_time()
    gc_meter = GcMeter()
    gc.callbacks.append(gc_meter)
    app = CryptoscopeApp(db, refresh_interval=2.0, now=lambda: DEFAULT_NOW)
    async with app.run_test(size=(160, 50)) as pilot:
        app.set_interval(TICK_S, meter.tick)
        meter.phase = "first screen"
        await wait_until(
            lambda: (
                isinstance(app.screen, OverviewScreen)
                and app.screen.query_one("#panel-transport", DataTable).row_count > 0
            )
        )
        figures["first paint (overview, first panel)"] = time.perf_counter() - started
        await wait_until(
            lambda: isinstance(app.screen, OverviewScreen) and app.screen.findings_loaded
        )
        figures["first screen (overview complete)"] = time.perf_counter() - started
        figures["  process CPU for it (all threads)"] = time.process_time() - cpu_started

        meter.phase = "endpoints view"
        began = time.perf_counter()
        app.jump("endpoints")
        await wait_until(lambda: isinstance(app.screen, TableScreen) and app.screen.load_count >= 1)
        screen = app.screen
        assert isinstance(screen, TableScreen)
        await pilot.pause()  # until the rows are painted
        figures["endpoints view (first page of 100k, painted)"] = time.perf_counter() - began

        latencies: dict[str, float] = {}
        cpu_costs: dict[str, float] = {}
        counted: dict[str, float] = {}
        for text in FILTERS:
            meter.phase = f"filter {text}"
            loads = screen.load_count
            began, cpu = time.perf_counter(), time.process_time()
            screen.apply_filter(text)
            await wait_until(functools.partial(_loaded_more, screen, loads))
            await painted_now(pilot)
            painted = time.perf_counter() - began
            cpu_costs[text] = time.process_time() - cpu
            # The count of matching rows follows the rows (status "N+ (counting…)").
            await wait_until(lambda: screen.total_exact)
            counted[text] = time.perf_counter() - began
            latencies[f"{text} ({screen.total:,} rows)"] = painted
        figures["filter results (rows painted)"] = latencies
        figures["  process CPU per filter (until painted)"] = cpu_costs
        figures["  until the status line has the count"] = counted
        screen.apply_filter("")
        await wait_until(
            lambda: screen.load_count > 0 and not screen.filt.active and screen.total > 99_000
        )

        meter.phase = "sort"
        loads = screen.load_count
        began = time.perf_counter()
        screen._sort_by("port")
        await wait_until(lambda: screen.load_count > loads)
        figures["sort by port"] = time.perf_counter() - began

        meter.phase = "paging"
        began = time.perf_counter()
        for _ in range(5):
            loads = screen.load_count
            screen.action_go_bottom()
            await wait_until(functools.partial(_loaded_more, screen, loads))
        figures["5 more pages via G"] = time.perf_counter() - began
        await pilot.press("pagedown", "pagedown", "pagedown", "pageup")

        meter.phase = "endpoint detail"
        began = time.perf_counter()
        await pilot.press("enter")
        await wait_until(
            lambda: isinstance(app.screen, EndpointScreen) and app.screen.detail is not None
        )
        figures["endpoint detail"] = time.perf_counter() - began

        meter.phase = "live poll"
        polls = app.polls
        await wait_until(lambda: app.polls >= polls + 2, timeout=30)
        meter.phase = "end"
    figures["longest event-loop stall"] = (meter.worst, meter.where)
    figures["  longest stall per phase"] = dict(meter.by_phase)
    gc.callbacks.remove(gc_meter)
    figures["garbage-collector passes (all threads)"] = gc_meter.figures()
    return figures


def sql_figures(db: Path) -> dict[str, float]:
    """The query layer alone (what each worker spends in SQLite), median of 5."""
    conn = connect_readonly(db)
    out: dict[str, float] = {}
    try:
        cases: dict[str, Callable[[], object]] = {
            "overview": lambda: queries.overview(conn, DEFAULT_NOW),
            "endpoints page": lambda: queries.fetch_page(conn, queries.ENDPOINTS),
            "endpoints page at offset 50,000": lambda: queries.fetch_page(
                conn, queries.ENDPOINTS, offset=50_000, total=100_000
            ),
            "namespaces page": lambda: queries.fetch_page(conn, queries.NAMESPACES),
            "findings page": lambda: queries.fetch_page(
                conn, queries.FINDINGS, scope=(queries.OPEN_OR_WAIVED,)
            ),
        }
        for text in FILTERS:
            compiled = compile_filter(text, queries.ENDPOINTS.filterables())
            cases[f"filter {text}"] = functools.partial(
                queries.fetch_page, conn, queries.ENDPOINTS, filt=compiled
            )
            # What the TUI waits for before painting (the count follows in another worker).
            cases[f"  rows only, count deferred: {text}"] = functools.partial(
                queries.fetch_page,
                conn,
                queries.ENDPOINTS,
                filt=compiled,
                limit=70,
                count=False,
            )
        for name, case in cases.items():
            samples = []
            for _ in range(5):
                began = time.perf_counter()
                case()
                samples.append(time.perf_counter() - began)
            out[name] = statistics.median(samples)
    finally:
        conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--db", type=Path, default=Path(tempfile.gettempdir()) / "cryptoscope-bench-tui-100000.db"
    )
    parser.add_argument("--endpoints", type=int, default=100_000)
    args = parser.parse_args(argv)
    if not args.db.exists():
        print(f"generating {args.endpoints:,} endpoints into {args.db} (once) …", flush=True)
        result = generate(args.db, endpoints=args.endpoints, runs=2)
        print(f"  {result.seconds:.1f} s")
    print(
        f"database: {args.db} ({args.db.stat().st_size / 1e6:.0f} MB), {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
    )
    print("\nSQL (median of 5, ms):")
    for name, seconds in sql_figures(args.db).items():
        print(f"  {name:<40} {seconds * 1000:8.1f}")
    print(
        "\nTUI, headless 160x50 (targets: first screen <= 1000 ms, filter <= 150 ms, stall <= 100 ms):"
    )
    figures = asyncio.run(run_app(args.db))
    for name, value in figures.items():
        if isinstance(value, dict):
            print(f"  {name}:")
            for label, seconds in value.items():
                print(f"    {label:<38} {seconds * 1000:8.1f} ms")
        elif isinstance(value, tuple):
            print(f"  {name:<40} {value[0] * 1000:8.1f} ms (during: {value[1]})")
        else:
            assert isinstance(value, float)
            print(f"  {name:<40} {value * 1000:8.1f} ms")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
