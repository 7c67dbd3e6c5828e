"""The first screen: the cluster's crypto posture at a glance; enter on a row opens the matching view."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Grid
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from inspector.tui import render
from inspector.tui.datatable import StableDataTable
from inspector.tui.keys import DETAIL_BINDINGS
from inspector.tui.queries import GRADES, Overview, overview_basics, overview_findings
from inspector.tui.saving import SaveError, save_rows
from inspector.tui.screens.base import CryptoscopeScreen
from inspector.tui.screens.dialogs import SaveScreen

#: panel id -> (title, column labels)
PANELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "transport": ("Endpoints by transport", ("TRANSPORT", "ENDPOINTS")),
    "grade": ("Endpoints by grade (worst open finding)", ("GRADE", "ENDPOINTS", "MEANING")),
    "requirements": (
        "Open findings by PCI DSS requirement",
        ("REQUIREMENT", "SEVERITY", "FINDINGS"),
    ),
    "expiring": ("Certificates expiring within 30 days", ("EXPIRES", "SUBJECT", "ENDPOINTS")),
    "secrets": ("Stale or expired mounted secrets", ("NAMESPACE", "POD", "VAULT/OBJECT", "WHY")),
    "runs": ("Last run per agent", ("AGENT", "NODE", "FINISHED", "STATUS", "ENDPOINTS")),
}


class OverviewScreen(CryptoscopeScreen):
    HELP_TITLE = "Overview"
    BINDINGS: ClassVar[list[BindingType]] = [*DETAIL_BINDINGS]
    DEFAULT_CSS = """
    OverviewScreen #crumbs { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    OverviewScreen #freshness { height: 1; padding: 0 1; }
    OverviewScreen Grid { grid-size: 2 3; grid-gutter: 0 1; height: 1fr; }
    OverviewScreen DataTable { height: 1fr; border: round $primary; }
    OverviewScreen DataTable:focus { border: round $accent; }
    """

    def __init__(self) -> None:
        super().__init__(("Overview",))
        self.data: Overview | None = None
        #: True once the grade and requirement panels hold data (second stage of a load).
        self.findings_loaded = False

    def compose(self) -> ComposeResult:
        yield Static(self.crumb_text(), id="crumbs")
        yield Static("loading…", id="freshness")
        with Grid():
            for panel_id, (title, columns) in PANELS.items():
                table: DataTable[object] = StableDataTable(
                    id=f"panel-{panel_id}", cursor_type="row", zebra_stripes=False
                )
                table.border_title = title
                for label in columns:
                    table.add_column(label)
                yield table
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#panel-transport", DataTable).focus()
        self.refresh_data()

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="overview-load", exit_on_error=False)
    def _load(self) -> None:
        worker = get_current_worker()
        try:
            with self.connection() as conn:
                data = overview_basics(conn, self.now(), stale_after=self.cs_app.stale_after)
                if worker.is_cancelled:
                    return
                self.app.call_from_thread(self._show, data)
                # the findings aggregates scan every open finding: shown as soon as they are ready
                by_grade, by_requirement = overview_findings(conn, data.endpoints_total)
        except Exception as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(
                    self.query_one("#freshness", Static).update,
                    Text(f"cannot read the database: {exc}", style="red"),
                )
            return
        if not worker.is_cancelled:
            complete = dataclasses.replace(
                data, by_grade=by_grade, findings_by_requirement=by_requirement
            )
            self.app.call_from_thread(self._show_findings, complete)

    def _fill(self, panel_id: str, rows: Sequence[Sequence[object]], keys: Sequence[str]) -> None:
        table = self.query_one(f"#panel-{panel_id}", DataTable)
        cursor = table.cursor_row
        table.clear()
        for key, row in zip(keys, rows, strict=True):
            table.add_row(*(Text(c) if isinstance(c, str) else c for c in row), key=key)
        if rows:
            table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)

    def _show(self, data: Overview) -> None:
        previous = self.data
        # keep the last findings counts until the new ones arrive (second stage)
        self.data = (
            dataclasses.replace(
                data,
                by_grade=previous.by_grade,
                findings_by_requirement=previous.findings_by_requirement,
            )
            if previous is not None
            else data
        )
        now = self.now()
        with self.app.batch_update():
            if data.latest_run_at is None:
                fresh = Text("no finished run yet", style="yellow")
            elif data.fresh:
                fresh = Text(
                    f"✓ fresh — last run {render.human_age(data.age_seconds or 0)} ago",
                    style="green",
                )
            else:
                fresh = Text(
                    f"▲ STALE — last run {render.human_age(data.age_seconds or 0)} ago",
                    style="bold yellow",
                )
            summary = Text.assemble(
                f"{data.endpoints_total:,} endpoints · ",
                fresh,
                f" · data as of {data.latest_run_at or '—'}",
            )
            self.query_one("#freshness", Static).update(summary)
            self._fill(
                "transport",
                [
                    (render.transport(t), Text(f"{n:,}", justify="right"))
                    for t, n in data.by_transport
                ],
                [t for t, _ in data.by_transport],
            )
            self._fill(
                "expiring",
                [
                    (render.expiry(na, now), subj, Text(f"{n}", justify="right"))
                    for na, subj, _, n in data.expiring
                ],
                [sha for _, _, sha, _ in data.expiring],
            )
            secrets_table = self.query_one("#panel-secrets", DataTable)
            rotation = "; ".join(
                f"{'✖ ' if state == 'off' else ''}CSI rotation {text}"
                for state, text in data.csi_rotation
            )
            if data.stale_secrets is None:
                secrets_table.border_subtitle = rotation or "no CSI data yet"
                self._fill("secrets", [], [])
            else:
                shown = f"{len(data.stale_secrets)} shown"
                secrets_table.border_subtitle = f"{shown} · {rotation}" if rotation else shown
                rows = [
                    (
                        ns,
                        pod,
                        obj,
                        Text(
                            why,
                            style="red" if why.startswith(("expired", "disabled")) else "yellow",
                        ),
                    )
                    for ns, pod, obj, why in data.stale_secrets
                ]
                self._fill("secrets", rows, [str(i) for i in range(len(rows))])
            self._fill(
                "runs",
                [
                    (
                        agent,
                        node,
                        render.time_ago(finished, now),
                        render.cell("status", status, now),
                        Text(f"{n:,}", justify="right"),
                    )
                    for agent, node, finished, status, n in data.last_runs
                ],
                [agent for agent, *_ in data.last_runs],
            )
            for panel in ("grade", "requirements"):
                self.query_one(f"#panel-{panel}", DataTable).border_subtitle = "counting…"

    def _show_findings(self, data: Overview) -> None:
        """The grade and requirement panels (second stage of the load)."""
        self.data = data
        self.findings_loaded = True
        now = self.now()
        with self.app.batch_update():
            for panel in ("grade", "requirements"):
                self.query_one(f"#panel-{panel}", DataTable).border_subtitle = ""
            meanings = dict(GRADES)
            self._fill(
                "grade",
                [
                    (render.cell("grade", g, now), Text(f"{n:,}", justify="right"), meanings[g])
                    for g, n in data.by_grade
                ],
                [g for g, _ in data.by_grade],
            )
            self._fill(
                "requirements",
                [
                    (req, render.severity(sev), Text(f"{n:,}", justify="right"))
                    for req, sev, n in data.findings_by_requirement
                ],
                [f"{req}|{sev}" for req, sev, _ in data.findings_by_requirement],
            )

    # ------------------------------------------------------------------ drill

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        panel = (event.data_table.id or "").removeprefix("panel-")
        key = str(event.row_key.value)
        app = self.cs_app
        if panel == "transport":
            app.jump("endpoints", f"transport={key}")
        elif panel == "grade":
            app.jump("endpoints", f"grade={key}")
        elif panel == "requirements":
            requirement, severity = key.split("|", 1)
            app.jump("findings", f"req:{requirement} sev={severity}")
        elif panel == "expiring":
            app.jump("endpoints", "expiry<" + self._expiring_before())
        elif panel == "secrets":
            app.jump("secrets")
        elif panel == "runs":
            app.jump("runs", f"agent={key}")

    def _expiring_before(self) -> str:
        from datetime import timedelta

        return (self.now() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def action_copy_cell(self) -> None:
        focused = self.focused
        if isinstance(focused, DataTable) and focused.row_count:
            row = focused.get_row_at(focused.cursor_row)
            self.copy_text("\t".join(str(getattr(v, "plain", v)) for v in row), "row")

    def action_save_view(self) -> None:
        stamp = self.now().strftime("%Y%m%d-%H%M%S")
        default = str(Path(self.cs_app.save_dir) / f"cryptoscope-overview-{stamp}.json")
        self.app.push_screen(SaveScreen(default, "the overview"), self._save_to)

    def _save_to(self, path: str | None) -> None:
        if not path or self.data is None:
            return
        import dataclasses

        target = Path(path).expanduser()
        payload = json.loads(json.dumps(dataclasses.asdict(self.data), default=str))
        try:
            if target.suffix.lower() == ".csv":
                rows = [
                    {"section": "transport", "key": t, "count": n}
                    for t, n in self.data.by_transport
                ]
                rows += [{"section": "grade", "key": g, "count": n} for g, n in self.data.by_grade]
                rows += [
                    {"section": f"requirement {r}", "key": s, "count": n}
                    for r, s, n in self.data.findings_by_requirement
                ]
                count = save_rows(target, ["section", "key", "count"], rows, meta={})
            else:
                count = save_rows(
                    target, ["overview"], [{"overview": payload}], meta={"view": "overview"}
                )
        except SaveError as exc:
            self.notify(str(exc), title="Save", severity="error")
            return
        self.notify(f"Saved {count} row(s) to {target}", title="Save")
        self.cs_app.record_saved(target)
