"""Run history, and what changed between two runs."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from inspector.tui import render
from inspector.tui.keys import DETAIL_BINDINGS, RUNS_BINDINGS, TABLE_BINDINGS
from inspector.tui.queries import RUNS, RunDiff, previous_run, run_diff
from inspector.tui.screens.base import CryptoscopeScreen
from inspector.tui.screens.table import TableScreen

CHANGE_STYLE = {"+": ("+ added", "green"), "-": ("- gone", "red"), "~": ("~ changed", "yellow")}
FINDING_CHANGE = {"+": ("+ new", "red"), "-": ("- resolved", "green")}


class RunsScreen(TableScreen):
    HELP_TITLE = "Runs"
    BINDINGS: ClassVar[list[BindingType]] = [*TABLE_BINDINGS, *RUNS_BINDINGS]

    def __init__(self, *, crumbs: tuple[str, ...], filter_text: str = "") -> None:
        super().__init__(RUNS, crumbs=crumbs, filter_text=filter_text, drill=RunsScreen._drill)
        self.marked: int | None = None

    @staticmethod
    def _drill(screen: TableScreen, key: str, values: dict[str, object]) -> None:
        assert isinstance(screen, RunsScreen)
        screen.action_diff_runs()

    def action_mark_run(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        run_id = int(picked[0])
        self.marked = None if self.marked == run_id else run_id
        self.notify(
            f"Marked run {run_id}; press d on another run to diff."
            if self.marked
            else "Mark cleared.",
            timeout=3,
        )
        self._update_status()

    def _update_status(self) -> None:
        super()._update_status()
        if self.marked is not None:
            status = self.query_one("#status", Static)
            status.update(Text(f"{status.content} · marked run {self.marked}"))

    def action_diff_runs(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        self._open_diff(int(picked[0]), self.marked)

    @work(thread=True, exclusive=True, group="runs-diff", exit_on_error=False)
    def _open_diff(self, current: int, marked: int | None) -> None:
        with self.connection() as conn:
            other = (
                marked if marked is not None and marked != current else previous_run(conn, current)
            )
        if other is None:
            self.app.call_from_thread(
                self.notify, f"Run {current} has no earlier run to diff with.", timeout=3
            )
            return
        self.app.call_from_thread(
            self.app.push_screen,
            RunDiffScreen(
                other,
                current,
                (*self.crumbs, f"diff {min(other, current)} → {max(other, current)}"),
            ),
        )


class RunDiffScreen(CryptoscopeScreen):
    HELP_TITLE = "Run diff"
    BINDINGS: ClassVar[list[BindingType]] = list(DETAIL_BINDINGS)
    DEFAULT_CSS = """
    RunDiffScreen #crumbs { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    RunDiffScreen .section { padding: 0 1; margin-bottom: 1; }
    """

    def __init__(self, run_a: int, run_b: int, crumbs: tuple[str, ...]) -> None:
        super().__init__(crumbs)
        self.run_a, self.run_b = run_a, run_b
        self.diff: RunDiff | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.crumb_text(), id="crumbs")
        with VerticalScroll():
            yield Static("loading…", id="diff-head", classes="section")
            yield Static(id="diff-endpoints", classes="section")
            yield Static(id="diff-findings", classes="section")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="diff-load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        with self.connection() as conn:
            diff = run_diff(conn, self.run_a, self.run_b)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, diff)

    def _run_line(self, run: dict[str, Any] | Any) -> str:
        return f"run {run['id']} · {run['agent_id']} · {run['started_at']} · {run['status']} · {run['endpoint_count']} endpoints"

    def _show(self, diff: RunDiff | None) -> None:
        self.diff = diff
        head = self.query_one("#diff-head", Static)
        if diff is None:
            head.update(Text("One of these runs is no longer in the database.", style="yellow"))
            return
        head.update(
            Text.assemble(
                ("From ", "bold"),
                self._run_line(diff.older),
                "\n",
                ("To   ", "bold"),
                self._run_line(diff.newer),
            )
        )
        endpoints = Table(
            title=f"Endpoints ({len(diff.endpoint_changes)} changes)",
            title_justify="left",
            expand=True,
        )
        for label in ("Change", "Endpoint", "What"):
            endpoints.add_column(label)
        for change, subject, what in diff.endpoint_changes:
            word, style = CHANGE_STYLE[change]
            endpoints.add_row(Text(word, style=style), Text(subject), Text(what))
        self.query_one("#diff-endpoints", Static).update(
            endpoints if diff.endpoint_changes else Text("Endpoints: no change.", style="dim")
        )
        findings = Table(
            title=f"Findings ({len(diff.finding_changes)} changes)",
            title_justify="left",
            expand=True,
        )
        for label in ("Change", "Rule", "Severity", "Subject", "Message"):
            findings.add_column(label)
        for change, rule, severity, subject, message in diff.finding_changes:
            word, style = FINDING_CHANGE[change]
            findings.add_row(
                Text(word, style=style),
                Text(rule),
                render.severity(severity),
                Text(subject),
                Text(message),
            )
        self.query_one("#diff-findings", Static).update(
            findings if diff.finding_changes else Text("Findings: no change.", style="dim")
        )

    def action_copy_cell(self) -> None:
        if self.diff is not None:
            lines = [f"{c}\t{s}\t{w}" for c, s, w in self.diff.endpoint_changes]
            lines += ["\t".join(row) for row in self.diff.finding_changes]
            self.copy_text("\n".join(lines), "diff")

    def action_save_view(self) -> None:
        from pathlib import Path

        from inspector.tui.screens.dialogs import SaveScreen

        stamp = self.now().strftime("%Y%m%d-%H%M%S")
        default = str(
            Path(self.cs_app.save_dir) / f"cryptoscope-diff-{self.run_a}-{self.run_b}-{stamp}.csv"
        )
        self.app.push_screen(SaveScreen(default, "this diff"), self._save_to)

    def _save_to(self, path: str | None) -> None:
        from pathlib import Path

        from inspector.tui.saving import SaveError, save_rows

        if not path or self.diff is None:
            return
        rows = [
            {"kind": "endpoint", "change": c, "subject": s, "detail": w}
            for c, s, w in self.diff.endpoint_changes
        ]
        rows += [
            {"kind": "finding", "change": c, "subject": s, "detail": f"{r} {sev}: {m}"}
            for c, r, sev, s, m in self.diff.finding_changes
        ]
        try:
            count = save_rows(
                Path(path).expanduser(),
                ["kind", "change", "subject", "detail"],
                rows,
                meta={
                    "view": "run-diff",
                    "older": self.diff.older["id"],
                    "newer": self.diff.newer["id"],
                },
            )
        except SaveError as exc:
            self.notify(str(exc), title="Save", severity="error")
            return
        self.notify(f"Saved {count} row(s) to {path}", title="Save")
        self.cs_app.record_saved(Path(path))
