"""SVG snapshots of the main views (fixed clock, fixed data, fixed terminal size).

Update after a deliberate change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at the SVGs before committing them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tui.conftest import SIZE, make_app, settle


async def _loaded(pilot: Any) -> None:
    await settle(pilot.app, pilot)


def test_overview_snapshot(cluster_db: Path, snap_compare: Any) -> None:
    assert snap_compare(make_app(cluster_db), terminal_size=SIZE, run_before=_loaded)


def test_endpoints_snapshot(cluster_db: Path, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(cluster_db, initial_view="endpoints"), terminal_size=SIZE, run_before=_loaded
    )


def test_endpoint_detail_snapshot(cluster_db: Path, snap_compare: Any) -> None:
    async def open_ledger(pilot: Any) -> None:
        await settle(pilot.app, pilot)
        await pilot.press("enter")
        await settle(pilot.app, pilot)

    app = make_app(cluster_db, initial_view="endpoints", initial_filter="pod:ledger")
    assert snap_compare(app, terminal_size=SIZE, run_before=open_ledger)


def test_findings_snapshot(cluster_db: Path, snap_compare: Any) -> None:
    assert snap_compare(
        make_app(cluster_db, initial_view="findings"), terminal_size=SIZE, run_before=_loaded
    )
