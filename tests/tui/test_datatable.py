"""StableDataTable renders exactly what Textual's DataTable renders, from its caches too."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from inspector.tui import render
from inspector.tui.datatable import StableDataTable

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KINDS = ("text", "number", "transport", "grade", "expiry", "severity", "suite", "text")


def _row(i: int) -> list[object]:
    """Realistic cells: repeated values (shared renders) and unique ones, plain and styled."""
    values: list[object] = [
        f"ns-{i % 3}",
        i % 4,
        ("tls", "plaintext", None)[i % 3],
        "ABCDF"[i % 5],
        f"2027-0{1 + i % 9}-01T00:00:00+00:00" if i % 4 else None,
        ("critical", "high", "low")[i % 3],
        ("TLS_RSA_WITH_RC4_128_SHA", "TLS_AES_128_GCM_SHA256")[i % 2],
        f"pod-{i}-[b]not markup[/b]",
    ]
    return [render.cell(kind, value, NOW) for kind, value in zip(KINDS, values, strict=True)]


class Tables(App[None]):
    def compose(self) -> ComposeResult:
        yield StableDataTable(id="stable", cursor_type="cell", zebra_stripes=True)
        yield DataTable(id="plain", cursor_type="cell", zebra_stripes=True)

    def on_mount(self) -> None:
        for table in self.query(DataTable):
            table.styles.height = 20
            for n, kind in enumerate(KINDS):
                table.add_column(kind.upper(), key=f"c{n}")
            for i in range(40):
                table.add_row(*_row(i), key=str(i))


def _screen_lines(table: DataTable[object]) -> list[list[tuple[str, object]]]:
    return [
        [(segment.text, segment.style) for segment in table.render_line(y)]
        for y in range(table.size.height)
    ]


async def test_renders_like_textuals_datatable_after_appends_updates_and_moves() -> None:
    app = Tables()
    async with app.run_test(size=(160, 50)) as pilot:
        stable = app.query_one("#stable", StableDataTable)
        plain = app.query_one("#plain", DataTable)
        app.set_focus(None)  # a focused table is styled differently
        await pilot.pause()
        assert stable.size == plain.size and stable.size.height > 10

        def same() -> None:
            assert _screen_lines(stable) == _screen_lines(plain)

        same()
        for step in range(6):
            for table in (stable, plain):
                table.add_row(*_row(100 + step), key=f"new-{step}")  # appended below the view
                table.update_cell(str(step), "c7", Text(f"changed {step}", style="bold"))
                table.move_cursor(row=step * 3, column=step % len(KINDS))
                table.hover_coordinate = Coordinate(step + 1, 2)
            await pilot.pause()
            same()
        for table in (stable, plain):
            table.scroll_to(y=15, animate=False)
        await pilot.pause()
        same()
        # The caches did their job: most visible cells came from them, not from Rich.
        assert stable._stable_cells and stable._content_cells
        for table in (stable, plain):  # a new filter: other rows, many values seen before
            table.clear()
            for i in range(30):
                table.add_row(*_row(i * 7), key=f"again-{i}")
            table.move_cursor(row=4, column=1)
        assert stable._content_cells  # survives clear(): the look of a value did not change
        await pilot.pause()
        same()


class OneTable(App[None]):
    def compose(self) -> ComposeResult:
        yield StableDataTable(id="stable", cursor_type="cell")

    def on_mount(self) -> None:
        table = self.query_one(StableDataTable)
        table.add_column("ID", key="id")
        table.add_column("RULE", key="rule")


async def test_lines_drawn_before_rows_are_measured_are_redrawn_with_the_new_widths() -> None:
    """Textual keeps lines painted between add_row and the measuring idle (label-wide columns)."""
    app = OneTable()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(StableDataTable)
        await pilot.pause()
        table.add_row("1", "C-EXPIRED-CERTIFICATE", key="a")
        early = "".join(segment.text for segment in table.render_line(1))  # painted before the idle
        assert "C-EXPIRED-CERTIFICATE" not in early  # still the label's width: the race exists
        await table._on_idle(events.Idle())  # the measuring idle, with nothing else in between
        later = "".join(segment.text for segment in table.render_line(1))
        assert "C-EXPIRED-CERTIFICATE" in later
