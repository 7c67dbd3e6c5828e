"""Fixtures for the TUI tests: a database written through the store's real API, and a pilot helper."""

from __future__ import annotations

import io
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.widget import Widget
from textual.widgets import DataTable, Static

from inspector.tui.app import CryptoscopeApp
from tests.tui.factory import NOW, build_database

#: Terminal size of every pilot and snapshot test (deterministic layout).
SIZE = (160, 48)


@pytest.fixture(scope="session")
def fixture_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_database(tmp_path_factory.mktemp("tui-template") / "cluster.db")


@pytest.fixture
def cluster_db(fixture_db_template: Path, tmp_path: Path) -> Path:
    """A private copy of the fixture database (tests may write new runs into it)."""
    target = tmp_path / "cluster.db"
    shutil.copyfile(fixture_db_template, target)
    return target


def make_app(db: Path, save_dir: Path | None = None, **kwargs: object) -> CryptoscopeApp:
    options: dict[str, object] = {
        "now": lambda: NOW,
        "refresh_interval": 0,
        "save_dir": save_dir or db.parent,
    }
    options.update(kwargs)
    return CryptoscopeApp(db, **options)  # type: ignore[arg-type]


def _busy(app: CryptoscopeApp) -> bool:
    """Something is still on its way to the screen: a worker, a first load, a table not yet measured."""
    if any(not worker.is_finished for worker in app.workers):
        return True
    if app.status is None:  # the first look at the database has not come back
        return True
    for screen in app.screen_stack:
        # A table screen's first page, the overview's second stage (unless an error is shown instead).
        if getattr(screen, "error", None) is None and (
            getattr(screen, "loaded_once", True) is False
            or getattr(screen, "findings_loaded", True) is False
        ):
            return True
    screen = app.screen
    # DataTable sizes its columns on an Idle event, and the screen lays out and paints on a
    # timer after that: under load a screenshot can come between them (old column widths).
    if any(
        table._require_update_dimensions or table._updated_cells
        for table in screen.query(DataTable)
    ):
        return True
    if (
        screen._layout_required
        or screen._scroll_required
        or screen._repaint_required
        or screen._recompose_required
        or screen._dirty_widgets
        or not screen._message_queue.empty()
    ):
        return True
    return any(
        widget._layout_required or widget._repaint_required or not widget._message_queue.empty()
        for widget in screen.walk_children(Widget)
    )


async def settle(app: CryptoscopeApp, pilot: object) -> None:
    """Wait until nothing is on its way to the screen, three checks in a row.

    A worker may start a screen whose own workers start on the next message
    (on_mount), and a page arrives through call_from_thread after its worker
    is seen running, so one quiet check is not enough. Bounded: a screen that
    never settles shows up in the test's own assertions, not as a hang.
    """
    quiet = 0
    for _ in range(300):
        await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]
        if _busy(app):
            quiet = 0
            await pilot.pause(0.01)  # type: ignore[attr-defined]
            continue
        quiet += 1
        if quiet == 3:
            return


Settle = Callable[[CryptoscopeApp, object], Awaitable[None]]


def static_text(screen: object, selector: str) -> str:
    """What a Static shows, as plain text (Rich tables rendered at a fixed width)."""
    widget = screen.query_one(selector, Static)  # type: ignore[attr-defined]
    buffer = io.StringIO()
    Console(file=buffer, width=220, color_system=None, legacy_windows=False).print(widget.content)
    return buffer.getvalue()
