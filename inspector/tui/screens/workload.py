"""One workload: its endpoints (a scoped endpoints table) and the secrets its pods mount."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.widgets import Footer, Static
from textual.worker import get_current_worker

from inspector.tui.datatable import StableDataTable
from inspector.tui.keys import TABLE_BINDINGS
from inspector.tui.queries import ENDPOINTS, Scope, workload_pods, workload_secrets
from inspector.tui.screens.table import DrillFn, TableScreen

NO_CSI = "Mounted secrets: no CSI data yet (this database has no secret-object tables; they appear once an agent inspects CSI mounts)."


class WorkloadScreen(TableScreen):
    HELP_TITLE = "Workload"
    BINDINGS: ClassVar[list[BindingType]] = list(TABLE_BINDINGS)
    DEFAULT_CSS = """
    WorkloadScreen #secrets { height: auto; max-height: 14; padding: 0 1; border-top: solid $primary; }
    """

    def __init__(
        self, namespace: str, scope: Scope, *, crumbs: tuple[str, ...], drill: DrillFn
    ) -> None:
        super().__init__(ENDPOINTS, crumbs=crumbs, scopes=(scope,), drill=drill)
        self.namespace = namespace
        self.workload_scope = scope

    def compose(self) -> ComposeResult:
        yield Static(self.crumb_text(), id="crumbs")
        yield Static("loading…", id="status")
        yield StableDataTable(id="rows", cursor_type="cell", zebra_stripes=True)
        yield Static("Mounted secrets: loading…", id="secrets")
        yield Footer()

    def on_mount(self) -> None:
        # TableScreen.on_mount runs too (Textual calls every class's handler): add the secrets panel only.
        self._load_secrets()

    def refresh_data(self) -> None:
        super().refresh_data()
        self._load_secrets()

    @work(thread=True, exclusive=True, group="workload-secrets", exit_on_error=False)
    def _load_secrets(self) -> None:
        worker = get_current_worker()
        with self.connection() as conn:
            pods = workload_pods(conn, self.workload_scope)
            found = workload_secrets(conn, self.namespace, pods)
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show_secrets, found)

    def _show_secrets(self, found: tuple[Sequence[str], Sequence[Sequence[str]]] | None) -> None:
        panel = self.query_one("#secrets", Static)
        if found is None:
            panel.update(Text(NO_CSI, style="dim"))
            return
        headers, rows = found
        if not rows:
            panel.update(
                Text(
                    "Mounted secrets: none of this workload's pods mounts a CSI secret.",
                    style="dim",
                )
            )
            return
        table = Table(title=f"Mounted secrets ({len(rows)})", title_justify="left", expand=True)
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        panel.update(table)
