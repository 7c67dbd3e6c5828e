"""A paged, filtered, sorted SQL view in a DataTable: namespaces, workloads, endpoints, secrets, findings, runs.

Only one page (the terminal's height plus a margin, at least ``MIN_PAGE_ROWS``)
is fetched at a time; moving the cursor near
the end fetches the next page. Every query runs in a thread worker; the main
thread only swaps rows in. A refresh re-reads the loaded rows and updates the
cells in place, keeping the cursor on the same row key.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from inspector.tui import render
from inspector.tui.datatable import StableDataTable
from inspector.tui.filtering import NO_FILTER, CompiledFilter, FilterError, compile_filter
from inspector.tui.keys import TABLE_BINDINGS
from inspector.tui.queries import (
    PAGE_SIZE,
    ListQuery,
    Page,
    Scope,
    count_rows,
    fetch_page,
    iter_rows,
)
from inspector.tui.saving import SaveError, save_rows
from inspector.tui.screens.base import CryptoscopeScreen
from inspector.tui.screens.dialogs import FILTER_HELP, PromptScreen, SaveScreen

#: What enter does on a row: given the screen, the row key and the row's values by column key.
DrillFn = Callable[["TableScreen", str, dict[str, object]], None]
#: One row's cells as the DataTable shows them (built in the worker thread, not on the event loop).
Cells = list[Text | str]

#: Rows from the end of what is loaded at which the next page is fetched.
PREFETCH_MARGIN = 20
#: Rows added per event-loop turn when a page is appended. Each addition repaints the visible
#: rows (DataTable invalidates its render cache), so one page at once is cheapest overall.
APPEND_CHUNK = PAGE_SIZE
#: Fewest rows a page holds (DataTable measures every cell of every row it is given).
MIN_PAGE_ROWS = 40


class TableScreen(CryptoscopeScreen):
    """One :class:`ListQuery` on screen."""

    HELP_TITLE = "Table views"
    BINDINGS: ClassVar[list[BindingType]] = list(TABLE_BINDINGS)
    DEFAULT_CSS = """
    TableScreen #crumbs { height: 1; background: $panel; color: $text; text-style: bold; padding: 0 1; }
    TableScreen #status { height: 1; color: $text-muted; padding: 0 1; }
    TableScreen #status.error { color: $error; }
    TableScreen DataTable { height: 1fr; }
    """

    def __init__(
        self,
        query: ListQuery,
        *,
        crumbs: tuple[str, ...],
        scopes: Sequence[Scope] = (),
        filter_text: str = "",
        drill: DrillFn | None = None,
    ) -> None:
        super().__init__(crumbs)
        self.query_spec = query
        self.scopes = tuple(scopes)
        self.drill_fn = drill
        self.filt: CompiledFilter = NO_FILTER
        self.initial_filter = filter_text
        self.sort_key: str | None = None
        self.descending: bool | None = None
        self.total = 0
        #: False while `total` is a lower bound (the rows are shown first, the count follows).
        self.total_exact = True
        #: Counts applied so far (the benchmark waits on it).
        self.count_count = 0
        self.keys: list[str] = []
        self.values: dict[str, tuple[object, ...]] = {}
        self.loading_more = False
        self.loaded_once = False
        #: Pages applied so far (tests and the benchmark wait on it).
        self.load_count = 0
        #: Bumped whenever the table is rebuilt; stale appended chunks check it.
        self.content_generation = 0
        self.error: str | None = None
        #: The connection of the count in progress (interrupted when a new filter makes it moot).
        self._counting_conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(self.crumb_text(), id="crumbs")
        yield Static("loading…", id="status")
        table = StableDataTable(id="rows", cursor_type="cell", zebra_stripes=True)
        yield table
        yield Footer()

    @property
    def table(self) -> DataTable[object]:
        return self.query_one("#rows", DataTable)

    def on_mount(self) -> None:
        for column in self.query_spec.columns:
            self.table.add_column(column.label, key=column.key)
        if self.initial_filter:
            self.apply_filter(self.initial_filter)
        else:
            self.reload()
        self.table.focus()

    # ------------------------------------------------------------------ loading

    def reload(self, *, keep_cursor: bool = False) -> None:
        """Fetch the first page (or every loaded row, keeping the cursor) again (filter, sort or data changed)."""
        page = self.page_size()
        limit = max(page, len(self.keys)) if keep_cursor else page
        self._cancel_count()
        self._load(offset=0, limit=limit, replace=True, keep_cursor=keep_cursor)

    def page_size(self) -> int:
        """Rows per page: what the terminal can show plus the prefetch margin (never more than
        ``PAGE_SIZE``), so a filter or a sort measures and adds no rows nobody sees yet."""
        return max(MIN_PAGE_ROWS, min(PAGE_SIZE, self.app.size.height + PREFETCH_MARGIN))

    def refresh_data(self) -> None:
        self.reload(keep_cursor=True)

    @work(thread=True, exclusive=True, group="table-load", exit_on_error=False)
    def _load(self, *, offset: int, limit: int, replace: bool, keep_cursor: bool) -> None:
        worker = get_current_worker()
        try:
            with self.connection() as conn:
                page = fetch_page(
                    conn,
                    self.query_spec,
                    scope=self.scopes,
                    filt=self.filt,
                    sort=self.sort_key,
                    descending=self.descending,
                    offset=offset,
                    limit=limit,
                    total=None if replace or not self.total_exact else self.total,
                    count=False,
                )
            now = self.now()
            cells = [self._row_cells(values, now) for values in page.rows]
        except Exception as exc:  # a locked or vanished database must not kill the screen
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show_error, f"cannot read the database: {exc}")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._apply_page, page, cells, replace, keep_cursor)

    def _cancel_count(self) -> None:
        """Stop a count that no longer matters (its SQL is interrupted, not left to finish)."""
        self.workers.cancel_group(self, "table-count")
        conn = self._counting_conn
        if conn is not None:
            conn.interrupt()  # thread-safe; a no-op once the statement is done

    @work(thread=True, exclusive=True, group="table-count", exit_on_error=False)
    def _count(self, generation: int) -> None:
        """Count the matching rows after the first page is on screen (a full scan on big data)."""
        worker = get_current_worker()
        if generation != self.content_generation:  # a newer page arrived before this started
            return
        try:
            with self.connection() as conn:
                self._counting_conn = conn
                try:
                    total = count_rows(conn, self.query_spec, self.scopes, self.filt)
                finally:
                    self._counting_conn = None
        except Exception as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show_error, f"cannot count the rows: {exc}")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self._apply_total, total, generation)

    def _apply_total(self, total: int, generation: int) -> None:
        if generation != self.content_generation:
            return
        self.total, self.total_exact = total, True
        self.count_count += 1
        self._update_status()

    def _show_error(self, message: str) -> None:
        self.error = message
        self.loading_more = False
        status = self.query_one("#status", Static)
        status.update(Text(message))
        status.add_class("error")

    def _row_cells(self, values: tuple[object, ...], now: datetime) -> Cells:
        # Built in a worker: hand the GIL to the event loop between rows, so it never waits a
        # whole switch interval (5 ms) each time it wakes up while a page is being built.
        time.sleep(0)
        return [
            render.cell(column.kind, value, now)
            for column, value in zip(self.query_spec.columns, values, strict=True)
        ]

    def _apply_page(self, page: Page, cells: list[Cells], replace: bool, keep_cursor: bool) -> None:
        table = self.table
        self.error = None
        self.query_one("#status", Static).remove_class("error")
        if replace or page.total_exact or page.total > self.total:
            self.total = page.total
        if replace:
            self.total_exact = page.total_exact
        elif page.total_exact:
            self.total_exact = True
        if replace:
            old_keys = self.keys
            cursor = table.cursor_coordinate
            selected = (
                old_keys[cursor.row] if keep_cursor and 0 <= cursor.row < len(old_keys) else None
            )
            new_keys = list(page.keys)
            with self.app.batch_update():
                if keep_cursor and new_keys == old_keys:
                    self._update_in_place(page, cells)
                else:
                    table.clear()
                    self.content_generation += 1
                    self.values = {}
                    for key, values, row_cells in zip(page.keys, page.rows, cells, strict=True):
                        self.values[key] = values
                        table.add_row(*row_cells, key=key)
                    self.keys = new_keys
                    if selected is not None and selected in self.values:
                        row = new_keys.index(selected)
                    elif keep_cursor and new_keys:
                        row = min(cursor.row, len(new_keys) - 1)
                    else:
                        row = 0
                    table.move_cursor(row=row, column=cursor.column, animate=False)
            if not self.total_exact:  # counted once the rows are painted, not competing with them
                self.call_after_refresh(self._count, self.content_generation)
        else:
            fresh = [
                (k, v, c)
                for k, v, c in zip(page.keys, page.rows, cells, strict=True)
                if k not in self.values
            ]
            self._append_rows(fresh, self.content_generation)
            return
        self._page_applied()

    def _append_rows(
        self, rows: list[tuple[str, tuple[object, ...], Cells]], generation: int
    ) -> None:
        """Add a fetched page in small chunks, letting the loop breathe (and measure) in between.

        A chunk left over from before the table was re-read (filter, sort, refresh) is dropped.
        """
        if generation != self.content_generation:
            return
        chunk, rest = rows[:APPEND_CHUNK], rows[APPEND_CHUNK:]
        with self.app.batch_update():
            for key, values, row_cells in chunk:
                if key in self.values:
                    continue
                self.values[key] = values
                self.keys.append(key)
                self.table.add_row(*row_cells, key=key)
        if rest:
            self.call_after_refresh(self._append_rows, rest, generation)
        else:
            self._page_applied()

    def _page_applied(self) -> None:
        self.loading_more = False
        self.loaded_once = True
        self.load_count += 1
        self._update_status()

    def _update_in_place(self, page: Page, cells: list[Cells]) -> None:
        table = self.table
        for key, values, row_cells in zip(page.keys, page.rows, cells, strict=True):
            old = self.values.get(key)
            if old == values:
                continue
            for column, old_value, value, cell in zip(
                self.query_spec.columns, old or (), values, row_cells, strict=False
            ):
                if old_value != value:
                    table.update_cell(key, column.key, cell)
            self.values[key] = values

    def _update_status(self) -> None:
        of = f"{self.total:,}" if self.total_exact else f"{self.total:,}+ (counting…)"
        parts = [f"{self.query_spec.title}: showing {len(self.keys):,} of {of}"]
        if self.filt.active:
            parts.append(
                f"filter /{self.filt.text}" + (" (inverted)" if self.filt.inverted else "")
            )
        sort = self.sort_key or self.query_spec.default_sort
        descending = (
            self.query_spec.default_descending if self.descending is None else self.descending
        )
        parts.append(f"sort {sort} {'▼' if descending else '▲'}")
        self.query_one("#status", Static).update(Text(" · ".join(parts)))

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        row = event.coordinate.row
        if (
            not self.loading_more
            and (len(self.keys) < self.total or not self.total_exact)
            and row >= len(self.keys) - PREFETCH_MARGIN
        ):
            self.loading_more = True
            self._load(
                offset=len(self.keys), limit=self.page_size(), replace=False, keep_cursor=True
            )

    # ------------------------------------------------------------------ selection helpers

    def selected(self) -> tuple[str, dict[str, object], int] | None:
        """(row key, values by column key, column index) under the cursor, or None."""
        if not self.keys:
            return None
        coordinate: Coordinate = self.table.cursor_coordinate
        if not 0 <= coordinate.row < len(self.keys):
            return None
        key = self.keys[coordinate.row]
        values = dict(zip((c.key for c in self.query_spec.columns), self.values[key], strict=True))
        return key, values, coordinate.column

    # ------------------------------------------------------------------ actions

    def action_go_bottom(self) -> None:
        if self.keys:
            self.table.move_cursor(row=len(self.keys) - 1)

    def action_go_top(self) -> None:
        self.table.move_cursor(row=0)

    def action_filter_prompt(self) -> None:
        self.app.push_screen(
            PromptScreen(
                "/ filter",
                self.filt.text,
                hint=FILTER_HELP.splitlines()[0] + "   (! inverts; ? lists all)",
                placeholder="text, col:value, col>N, !inverts",
            ),
            self._filter_entered,
        )

    def _filter_entered(self, text: str | None) -> None:
        if text is not None:
            self.apply_filter(text)

    def apply_filter(self, text: str) -> bool:
        try:
            compiled = compile_filter(text, self.query_spec.filterables())
        except FilterError as exc:
            self._show_error(f"filter not applied: {exc}")
            self.notify(str(exc), title="Filter", severity="error")
            return False
        self.filt = compiled
        self.reload()
        return True

    def action_back(self) -> None:
        if self.filt.active:
            self.filt = NO_FILTER
            self.reload()
            return
        super().action_back()

    def on_data_table_cell_selected(self, event: DataTable.CellSelected) -> None:
        event.stop()
        self.action_drill()

    def action_drill(self) -> None:
        picked = self.selected()
        if picked is None or self.drill_fn is None:
            if self.drill_fn is None:
                self.notify("Nothing to open from this view.", timeout=2)
            return
        key, values, _ = picked
        self.drill_fn(self, key, values)

    def action_copy_cell(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        _, values, column_index = picked
        column = self.query_spec.columns[column_index]
        self.copy_text(render.plain(values[column.key]), column.label.lower())

    def action_copy_row(self) -> None:
        picked = self.selected()
        if picked is None:
            return
        _, values, _ = picked
        self.copy_text("\t".join(render.plain(v) for v in values.values()), "row")

    def _sort_by(self, key: str) -> None:
        if not self.query_spec.column(key).sortable:
            self.notify(
                f"{self.query_spec.column(key).label} cannot be sorted (computed per row).",
                timeout=3,
            )
            return
        current = self.sort_key or self.query_spec.default_sort
        if key == current:
            default_desc = self.query_spec.default_descending
            self.descending = not (default_desc if self.descending is None else self.descending)
        else:
            self.sort_key, self.descending = key, False
        self.reload()

    def action_sort_column(self) -> None:
        column_index = self.table.cursor_coordinate.column
        self._sort_by(self.query_spec.columns[column_index].key)

    def action_sort_name(self) -> None:
        self._sort_by(self.query_spec.columns[0].key)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        self._sort_by(str(event.column_key.value))

    def action_save_view(self) -> None:
        stamp = self.now().strftime("%Y%m%d-%H%M%S")
        default = str(
            Path(self.cs_app.save_dir) / f"cryptoscope-{self.query_spec.name}-{stamp}.csv"
        )
        self.app.push_screen(
            SaveScreen(default, f"{self.query_spec.title} ({self.total:,} rows)"), self._save_to
        )

    def _save_to(self, path: str | None) -> None:
        if path:
            self._save(Path(path).expanduser())

    @work(thread=True, exclusive=True, group="table-save", exit_on_error=False)
    def _save(self, path: Path) -> None:
        meta = {
            "view": self.query_spec.name,
            "scope": [s.label for s in self.scopes],
            "filter": self.filt.text,
            "database": str(self.cs_app.db_path),
            "saved_at": self.now().isoformat(),
        }
        try:
            with self.connection() as conn:
                rows = iter_rows(
                    conn,
                    self.query_spec,
                    scope=self.scopes,
                    filt=self.filt,
                    sort=self.sort_key,
                    descending=self.descending,
                )
                count = save_rows(path, [c.key for c in self.query_spec.columns], rows, meta=meta)
        except (SaveError, OSError) as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Save", severity="error")
            return
        except Exception as exc:
            self.app.call_from_thread(
                self.notify, f"cannot read the database: {exc}", title="Save", severity="error"
            )
            return
        self.app.call_from_thread(
            self.notify, f"Saved {count:,} rows to {path}", title="Save", timeout=5
        )
        self.app.call_from_thread(self.cs_app.record_saved, path)
