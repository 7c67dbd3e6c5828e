"""Fixtures for the TUI tests: a database written through the store's real API, and a pilot helper."""

from __future__ import annotations

import io
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
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


async def settle(app: CryptoscopeApp, pilot: object) -> None:
    """Wait until every worker finished and the screen caught up, twice in a row.

    A worker may start a screen whose own workers start on the next message
    (on_mount), so one quiet check is not enough.
    """
    quiet = 0
    for _ in range(20):
        await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]
        if any(not worker.is_finished for worker in app.workers):
            quiet = 0
            continue
        quiet += 1
        if quiet == 2:
            break
    # DataTable sizes its columns on an Idle event; under load a screenshot can come first.
    for _ in range(100):
        tables = list(app.screen.query(DataTable))
        if not any(t._require_update_dimensions or t._updated_cells for t in tables):
            return
        await pilot.pause(0.02)  # type: ignore[attr-defined]


Settle = Callable[[CryptoscopeApp, object], Awaitable[None]]


def static_text(screen: object, selector: str) -> str:
    """What a Static shows, as plain text (Rich tables rendered at a fixed width)."""
    widget = screen.query_one(selector, Static)  # type: ignore[attr-defined]
    buffer = io.StringIO()
    Console(file=buffer, width=220, color_system=None, legacy_windows=False).print(widget.content)
    return buffer.getvalue()
