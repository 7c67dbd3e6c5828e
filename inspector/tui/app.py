"""The cryptoscope TUI: k9s-style navigation over the evidence store, live while agents write.

Screens (``inspector.tui.screens``) show one view each; this module owns
navigation (`:` jumps, drill-downs, esc), the database state (a clear screen
for a missing, empty, locked or newer-schema file) and the live poll: an
exclusive thread worker reads ``PRAGMA data_version`` every ``refresh_interval``
seconds, rescheduled only after it finished (never overlapping), and asks the
screen on top to re-read its rows in place.
"""

from __future__ import annotations

import gc
import shlex
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import get_current_worker

from inspector.tui.database import (
    DatabaseState,
    DatabaseStatus,
    change_token,
    connect_readonly,
    probe,
)
from inspector.tui.keys import APP_BINDINGS
from inspector.tui.queries import (
    ENDPOINTS,
    FINDINGS,
    NAMESPACES,
    OPEN_OR_WAIVED,
    WORKLOADS,
    Scope,
    secrets_query,
    workload_scope,
)
from inspector.tui.screens.base import CryptoscopeScreen
from inspector.tui.screens.dialogs import VIEW_NAMES, HelpScreen, ProblemScreen, PromptScreen
from inspector.tui.screens.endpoint import EndpointScreen
from inspector.tui.screens.overview import OverviewScreen
from inspector.tui.screens.runs import RunsScreen
from inspector.tui.screens.secrets import NoSecretsScreen
from inspector.tui.screens.table import TableScreen
from inspector.tui.screens.workload import WorkloadScreen

#: Finding subject types the Secrets view can narrow to, and the filter column for their key.
SECRET_SUBJECT_FILTERS = {
    "secret_object": "subject",
    "secret_mount": "mount",
    "vault_object": "vault_object",
}

#: Middle-generation GC passes between two full passes while the app runs (Python's default:
#: 10). A full pass stops the UI for as long as it scans everything alive since the heap was
#: frozen (the render caches: 30-50 ms); young and middle passes stay as they are (a few ms).
GC_FULL_PASS_EVERY = 100

#: Themes that use the terminal's own colours (k9s "transparent" skin, light terminals).
DEFAULT_THEME = "ansi-dark"

PROBLEM_TITLES = {
    DatabaseState.MISSING: "No database",
    DatabaseState.NOT_A_DATABASE: "Not a cryptoscope database",
    DatabaseState.EMPTY: "Nothing recorded yet",
    DatabaseState.LOCKED: "Database locked",
    DatabaseState.NEWER_SCHEMA: "Database from a newer cryptoscope",
    DatabaseState.UNREADABLE: "Cannot read the database",
}


def _resolve_view(word: str) -> str | None:
    lowered = word.lower()
    for name, aliases in VIEW_NAMES.items():
        if lowered in aliases:
            return name
    return None


class CryptoscopeApp(App[int]):
    """``CryptoscopeApp(db_path).run()``; tests pass `now` (a clock) and ``refresh_interval=0`` (no poll)."""

    TITLE = "cryptoscope"
    BINDINGS: ClassVar[list[BindingType]] = list(APP_BINDINGS)
    ENABLE_COMMAND_PALETTE = True

    def __init__(
        self,
        db_path: str | Path,
        *,
        theme: str = DEFAULT_THEME,
        refresh_interval: float = 2.0,
        save_dir: str | Path = ".",
        initial_view: str = "overview",
        initial_filter: str = "",
        now: Callable[[], datetime] | None = None,
        stale_after: timedelta = timedelta(hours=1),
    ) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.requested_theme = theme
        self.refresh_interval = refresh_interval
        self.save_dir = Path(save_dir)
        self.initial_view = initial_view
        self.initial_filter = initial_filter
        self._clock = now
        self.stale_after = stale_after
        self.status: DatabaseStatus | None = None
        self.generation = 0
        self._poll_conn: sqlite3.Connection | None = None
        #: Whether _freeze_heap froze the heap (undone when the app ends).
        self._heap_frozen = False
        self._gc_thresholds: tuple[int, int, int] = gc.get_threshold()
        self._last_token: tuple[int, ...] | None = None
        self._poll_timer: Timer | None = None
        self.saved_paths: list[Path] = []
        self.exported_paths: list[Path] = []
        self.polls = 0

    # ------------------------------------------------------------------ plumbing

    def now(self) -> datetime:
        return self._clock() if self._clock else datetime.now(UTC)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Plain text by default: messages carry user input, paths, keys and addresses."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = connect_readonly(self.db_path)
        try:
            yield conn
        finally:
            conn.close()

    def record_saved(self, path: Path) -> None:
        self.saved_paths.append(path)

    def on_mount(self) -> None:
        if self.requested_theme in self.available_themes:
            self.theme = self.requested_theme
        self.sub_title = self.db_path.name
        self._check_database(first=True)
        self.call_after_refresh(self._freeze_heap)

    # ------------------------------------------------------------------ database state and live poll

    @work(thread=True, exclusive=True, group="db-poll", exit_on_error=False)
    def _check_database(self, first: bool = False) -> None:
        """Probe the file (first time, or while it is not usable), else look for new data. Never overlaps."""
        worker = get_current_worker()
        changed = False
        status = self.status
        try:
            if status is None or not status.ready:
                status = probe(self.db_path)
                if status.ready:
                    self._reset_poll_connection()
            else:
                try:
                    if self._poll_conn is None:
                        self._poll_conn = connect_readonly(self.db_path)
                    token = change_token(self._poll_conn, self.db_path)
                    changed = self._last_token is not None and token != self._last_token
                    self._last_token = token
                    if changed or not self.db_path.exists():
                        status = probe(self.db_path)
                except sqlite3.Error:
                    self._reset_poll_connection()
                    status = probe(self.db_path)
        finally:
            self.polls += 1
            if not worker.is_cancelled:
                self.call_from_thread(self._after_check, status, changed, first)

    def _reset_poll_connection(self) -> None:
        if self._poll_conn is not None:
            self._poll_conn.close()
        self._poll_conn = None
        self._last_token = None
        try:
            self._poll_conn = connect_readonly(self.db_path)
            self._last_token = change_token(self._poll_conn, self.db_path)
        except sqlite3.Error:
            self._poll_conn = None

    def _after_check(self, status: DatabaseStatus | None, changed: bool, first: bool) -> None:
        was_ready = self.status is not None and self.status.ready
        self.status = status
        if status is not None and status.ready:
            if not was_ready:
                self._show_views()
            elif changed:
                self.generation += 1
                self._refresh_current()
        elif status is not None:
            self._show_problem(status)
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        if self.refresh_interval > 0:
            self._poll_timer = self.set_timer(self.refresh_interval, self._check_database)

    def action_refresh_now(self) -> None:
        if self.status is not None and self.status.ready:
            self.generation += 1
            self._refresh_current()
        else:
            self._check_database()

    def _refresh_current(self) -> None:
        """Re-read the screen on top (a modal on top: the screen below it), rows updated in place."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, ModalScreen):
                continue
            if isinstance(screen, CryptoscopeScreen):
                screen.seen_generation = self.generation
                screen.refresh_data()
            break

    def _show_problem(self, status: DatabaseStatus) -> None:
        title = PROBLEM_TITLES.get(status.state, "Cannot show the database")
        top = self.screen
        if isinstance(top, ProblemScreen):
            top.update_problem(title, status.message)
            return
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(ProblemScreen(title, status.message))

    def _show_views(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        self.push_screen(self._tag(OverviewScreen()))
        if self.initial_view != "overview" or self.initial_filter:
            self.jump(self.initial_view, self.initial_filter)

    def _tag(self, screen: Screen[Any]) -> Screen[Any]:
        if isinstance(screen, CryptoscopeScreen):
            screen.seen_generation = self.generation
        return screen

    # ------------------------------------------------------------------ navigation

    def open(self, screen: Screen[Any]) -> None:
        """Drill down: push a screen above the current one (esc returns)."""
        self.push_screen(self._tag(screen))

    def go_back(self) -> None:
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def _to_base(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def jump(self, view: str, argument: str = "") -> None:
        """`:view [argument]` — reset to the overview, then open `view` (argument: namespace or filter)."""
        if self.status is None or not self.status.ready:
            self.notify("The database is not readable yet.", severity="warning")
            return
        name = _resolve_view(view)
        if name is None:
            known = ", ".join(VIEW_NAMES)
            self.notify(
                f"Unknown view {view!r}; try one of: {known}", title="Jump", severity="error"
            )
            return
        if name == "quit":
            self.exit(0)
            return
        self._to_base()
        if name == "overview":
            return
        if name == "secrets":
            self._open_secrets(argument)
            return
        self.open(self.make_view(name, argument))

    def make_view(self, name: str, argument: str = "") -> Screen[Any]:
        if name == "namespaces":
            if argument:
                return self.workloads_screen(argument)
            return TableScreen(NAMESPACES, crumbs=("Namespaces",), drill=self._drill_namespace)
        if name == "workloads":
            if argument and ":" not in argument and "=" not in argument and " " not in argument:
                return self.workloads_screen(argument)
            return TableScreen(
                WORKLOADS, crumbs=("Workloads",), filter_text=argument, drill=self._drill_workload
            )
        if name == "endpoints":
            return TableScreen(
                ENDPOINTS, crumbs=("Endpoints",), filter_text=argument, drill=self._drill_endpoint
            )
        if name == "findings":
            if argument.strip() == "all":
                return TableScreen(
                    FINDINGS, crumbs=("Findings", "all, with resolved"), drill=self._drill_finding
                )
            return TableScreen(
                FINDINGS,
                crumbs=("Findings", OPEN_OR_WAIVED.label),
                scopes=(OPEN_OR_WAIVED,),
                filter_text=argument,
                drill=self._drill_finding,
            )
        if name == "runs":
            return RunsScreen(crumbs=("Runs",), filter_text=argument)
        raise ValueError(name)

    def workloads_screen(
        self, namespace: str, crumbs: tuple[str, ...] = ("Namespaces",)
    ) -> TableScreen:
        scope = Scope(f"ns {namespace}", "w.namespace = ?", (namespace,))
        return TableScreen(
            WORKLOADS,
            crumbs=(*crumbs, namespace or "(none)"),
            scopes=(scope,),
            drill=self._drill_workload,
        )

    @work(thread=True, exclusive=True, group="open-secrets", exit_on_error=False)
    def _open_secrets(self, argument: str) -> None:
        with self.connect() as conn:
            query = secrets_query(conn)
        if query is None:
            screen: Screen[Any] = NoSecretsScreen(("Secrets",))
        else:
            screen = TableScreen(query, crumbs=("Secrets",), filter_text=argument)
        self.call_from_thread(self._open_secrets_screen, screen)

    def _open_secrets_screen(self, screen: Screen[Any]) -> None:
        self._to_base()
        self.open(screen)

    # drill-downs: (screen, row key, row values) -> push the next screen

    def _drill_namespace(self, screen: TableScreen, key: str, values: dict[str, object]) -> None:
        self.open(self.workloads_screen(key, screen.crumbs))

    def _drill_workload(self, screen: TableScreen, key: str, values: dict[str, object]) -> None:
        namespace, kind, name = key.split("|", 2)
        scope = workload_scope(namespace, kind, name)
        crumbs = (
            (*screen.crumbs, f"{kind}/{name}" if kind else name)
            if screen.scopes
            else (*screen.crumbs, scope.label)
        )
        self.open(WorkloadScreen(namespace, scope, crumbs=crumbs, drill=self._drill_endpoint))

    def _drill_endpoint(self, screen: TableScreen, key: str, values: dict[str, object]) -> None:
        label = f"{values.get('address')}:{values.get('port')}"
        self.open(EndpointScreen(int(key), (*screen.crumbs, label)))

    def _drill_finding(self, screen: TableScreen, key: str, values: dict[str, object]) -> None:
        self._open_finding_subject(int(key.split("|", 1)[0]), screen.crumbs)

    @work(thread=True, exclusive=True, group="finding-subject", exit_on_error=False)
    def _open_finding_subject(self, finding_id: int, crumbs: tuple[str, ...]) -> None:
        """A finding opens its subject: the endpoint, or the Secrets view narrowed to the object."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT subject_type, subject_key, endpoint_id FROM findings WHERE id = ?",
                (finding_id,),
            ).fetchone()
        if row is None:
            self.call_from_thread(
                self.notify, "This finding is no longer in the database.", timeout=3
            )
            return
        subject_type, subject_key, endpoint_id = row
        if endpoint_id is not None:
            screen = EndpointScreen(int(endpoint_id), (*crumbs, str(subject_key)))
            self.call_from_thread(self.open, screen)
            return
        column = SECRET_SUBJECT_FILTERS.get(str(subject_type))
        if column is None:
            self.call_from_thread(
                self.notify,
                f"No view for {subject_type} subjects; the row holds the facts.",
                timeout=3,
            )
            return
        self.call_from_thread(self.jump, "secrets", f"{column}={shlex.quote(str(subject_key))}")

    # ------------------------------------------------------------------ app-wide actions

    def action_command_prompt(self) -> None:
        self.push_screen(
            PromptScreen(
                ": jump",
                hint="overview · namespaces [ns] · workloads · endpoints [filter] · secrets · findings [filter|all] · runs · q",
                placeholder="endpoints transport=plaintext-http",
            ),
            self._command_entered,
        )

    def _command_entered(self, text: str | None) -> None:
        if not text or not text.strip():
            return
        word, _, rest = text.strip().lstrip(":").partition(" ")
        self.jump(word, rest.strip())

    def action_show_keys(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        bindings = list(getattr(type(screen), "BINDINGS", []))
        title = getattr(screen, "HELP_TITLE", "This screen")
        self.push_screen(HelpScreen(title, [b for b in bindings if hasattr(b, "key")]))

    def action_export_evidence(self) -> None:
        if self.status is None or not self.status.ready:
            self.notify("Nothing to export: the database is not readable.", severity="warning")
            return
        stamp = self.now().strftime("%Y%m%d-%H%M%S")
        self._export(self.save_dir / f"cryptoscope-evidence-{stamp}")

    @work(thread=True, exclusive=True, group="evidence-export", exit_on_error=False)
    def _export(self, out_dir: Path) -> None:
        from inspector.tui.evidence import EvidenceUnavailable, export_snapshot

        self.call_from_thread(
            self.notify,
            f"Exporting an evidence snapshot to {out_dir} …",
            title="Evidence",
            timeout=3,
        )
        try:
            summary = export_snapshot(self.db_path, out_dir)
        except EvidenceUnavailable as exc:
            self.call_from_thread(self.notify, str(exc), title="Evidence", severity="warning")
            return
        except Exception as exc:
            self.call_from_thread(
                self.notify, f"export failed: {exc}", title="Evidence", severity="error"
            )
            return
        self.exported_paths.append(out_dir)
        self.call_from_thread(
            self.notify, f"Evidence snapshot written: {summary}", title="Evidence", timeout=8
        )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for name in (
            "overview",
            "namespaces",
            "workloads",
            "endpoints",
            "secrets",
            "findings",
            "runs",
        ):
            yield SystemCommand(
                f"View: {name}",
                f"Jump to the {name} view (:{name})",
                lambda name=name: self.jump(name),
            )
        yield SystemCommand(
            "Findings: all",
            "Findings including resolved ones",
            lambda: self.jump("findings", "all"),
        )
        yield SystemCommand(
            "Save view", "Save the current view as CSV or JSON (ctrl+s)", self._palette_save
        )
        yield SystemCommand(
            "Export evidence", "Write an evidence snapshot (e)", self.action_export_evidence
        )
        yield SystemCommand("Refresh", "Re-read the database now (ctrl+r)", self.action_refresh_now)
        yield SystemCommand("Show keys", "Every key (?)", self.action_show_keys)

    def _palette_save(self) -> None:
        action = getattr(self.screen, "action_save_view", None)
        if action is not None:
            action()

    def _freeze_heap(self) -> None:
        """Keep what exists once the app is up (modules, CSS, widgets) out of full GC passes.

        It lives as long as the app; scanning it again in every full pass of the collector
        froze the UI for 70-110 ms once the render caches had grown (benchmarks/bench_tui.py).
        Full passes also come ten times less often while the app runs. ``on_unmount`` undoes
        both (several apps in one process: the tests); garbage frozen with the rest (little,
        at start) is collected from then on.
        """
        gc.freeze()
        self._heap_frozen = True
        self._gc_thresholds = gc.get_threshold()
        young, middle, _ = self._gc_thresholds
        gc.set_threshold(young, middle, GC_FULL_PASS_EVERY)

    def on_unmount(self) -> None:
        if self._heap_frozen:
            gc.unfreeze()
            gc.set_threshold(*self._gc_thresholds)
            self._heap_frozen = False
        if self._poll_conn is not None:
            self._poll_conn.close()
            self._poll_conn = None
