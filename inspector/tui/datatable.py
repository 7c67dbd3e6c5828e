"""A DataTable whose rendered cells survive rows being appended below them.

Textual's ``DataTable`` keys its cell render cache on a counter that every
``add_row`` and ``update_cell`` bumps, so appending a page of rows below the
viewport re-renders every visible cell through Rich (about 500 cells on a
160x50 terminal: the longest event-loop stall of a big view). This subclass
keeps a second cache keyed on what actually decides a cell's look — the cell
object itself (by identity), its position, width and styles — so only new or
changed cells are rendered. Anything that restyles the table (theme, CSS,
zebra stripes, cursor settings) clears it through ``_clear_caches``.

It also repaints lines drawn before new rows were measured (Textual keeps those, with the
old column widths, until the cursor moves).

It overrides private DataTable methods (``_render_cell``, ``_clear_caches``, ``_on_idle``,
``_update_dimensions``);
the TUI's snapshot tests pin the output, so a Textual upgrade that changes
them shows up there.
"""

from __future__ import annotations

import itertools
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.render import measure
from textual.widgets import DataTable

#: Rendered cells kept (a few dozen screens' worth); past it the older half is dropped.
CELL_CACHE_LIMIT = 20_000


class StableDataTable(DataTable[Any]):
    """``DataTable`` with a cell render cache that appending rows does not invalidate."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stable_cells: dict[tuple[object, ...], tuple[object, Any]] = {}
        self._content_cells: dict[tuple[object, ...], Any] = {}

    def _clear_caches(self) -> None:
        super()._clear_caches()
        # __init__ of DataTable may call this before our attribute exists.
        stable = getattr(self, "_stable_cells", None)
        if stable is not None:
            stable.clear()
            self._content_cells.clear()

    async def _on_idle(self, event: events.Idle) -> None:
        """Measure new rows (Textual's own step), then drop lines drawn with the old column widths.

        Textual keys its line caches on ``_update_count``, which measuring does not bump: a line
        painted between ``add_row`` and this idle (a busy loop, a screenshot) kept the label-wide
        columns until the cursor moved.
        """
        before = self._column_widths()
        await super()._on_idle(event)
        if self._column_widths() != before:
            self._update_count += 1
            self.refresh()

    def _update_dimensions(self, new_rows: Any) -> None:
        """Widen the columns for new one-line rows without labels here, measuring text directly.

        Textual measures each cell through ``measure()``, which builds console options per
        cell (a page of 100 rows: 800 calls on the event loop); for plain text that is the
        longest line's cell length, computed here. Other rows (labels, auto height) and the
        rest of the work (virtual size) stay Textual's.
        """
        console = self.app.console
        columns = self.ordered_columns
        others = []
        for row_key in new_rows:
            row_index = self._row_locations.get(row_key)
            row = self.rows.get(row_key)
            if row_index is None or row is None:
                continue
            if row.label is not None or row.auto_height or row.height != 1:
                others.append(row_key)
                continue
            renderables = self._get_row_renderables(row_index)
            for column, renderable in zip(columns, renderables.cells, strict=False):
                width = _width(console, renderable)
                if width > column.content_width:
                    column.content_width = width
        super()._update_dimensions(others)

    def _column_widths(self) -> tuple[int, ...]:
        return (
            self._label_column.content_width,
            *(column.content_width for column in self.columns.values()),
        )

    def clear(self, columns: bool = False) -> StableDataTable:
        """Remove the rows; renders by content stay valid (new rows often repeat old values)."""
        kept = self._content_cells
        self._content_cells = {}
        super().clear(columns)
        if not columns:
            self._content_cells = kept
        return self

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        if row_index < 0 or column_index < 0:  # header and label cells: rare, keep Textual's path
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        row = self.rows.get(row_key) if row_key is not None else None
        if row_key is None or column_key is None or row is None or row.height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        datum = self._data.get(row_key, {}).get(column_key)
        key = (
            row_key,
            column_key,
            row_index,
            column_index,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self._pseudo_class_state,
            self.show_cursor,
            self.cursor_type,
            self.fixed_rows,
            self.fixed_columns,
            self.cell_padding,
        )
        hit = self._stable_cells.get(key)
        if hit is not None and hit[0] is datum:
            return hit[1]
        lines = self._render_by_content(datum, key[4:], row_index, column_index)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            content = _content_key(datum)
            if content is not None and not (self.fixed_rows or self.fixed_columns):
                _remember(self._content_cells, (content, *key[4:]), lines)
        _remember(self._stable_cells, key, (datum, lines))
        return lines

    def _render_by_content(
        self, datum: object, look: tuple[object, ...], row_index: int, column_index: int
    ) -> Any:
        """An equal cell (same content, width and styles) rendered before, moved to this position.

        Rendered cells differ by position only in the ``row``/``column`` meta their styles carry
        (mouse clicks read it); adding this cell's meta over the cached segments gives what
        Textual would render here.
        """
        content = _content_key(datum)
        if content is None or self.fixed_rows or self.fixed_columns:  # fixed cells carry more meta
            return None
        lines = self._content_cells.get((content, *look))
        if lines is None:
            return None
        meta = Style.from_meta({"row": row_index, "column": column_index})
        return [
            [
                segment
                if segment.control
                else Segment(segment.text, _with_meta(segment.style, meta))
                for segment in line
            ]
            for line in lines
        ]


def _width(console: Console, renderable: Any) -> int:
    """What Textual's ``measure(console, renderable, 1)`` gives, quickly for plain ``Text``."""
    if type(renderable) is Text:
        lines = renderable.plain.splitlines()
        return max(map(cell_len, lines)) if lines else 0
    return measure(console, renderable, 1)


def _with_meta(style: Style | None, meta: Style) -> Style:
    return meta if style is None else style + meta


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= CELL_CACHE_LIMIT:
        # Dicts keep insertion order: drop the older half, so a full cache never means a full repaint.
        for old in list(itertools.islice(cache, CELL_CACHE_LIMIT // 2)):
            del cache[old]
    cache[key] = value


def _content_key(datum: object) -> tuple[object, ...] | None:
    """What decides how a cell renders, hashable; None for values not worth (or safe) to share."""
    if datum is None:
        return ("none",)
    if isinstance(datum, Text):
        if any(not isinstance(span.style, (str, Style)) for span in datum.spans):
            return None
        return (
            "text",
            datum.plain,
            datum.style,
            tuple(datum.spans),
            datum.justify,
            datum.overflow,
            datum.no_wrap,
            datum.end,
            datum.tab_size,
        )
    if type(datum) in (str, int, float):
        return (type(datum).__name__, datum)
    return None
