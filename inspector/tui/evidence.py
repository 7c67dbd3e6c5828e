"""`e`: write an evidence snapshot with the store's own export (no second implementation here)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


class EvidenceUnavailable(RuntimeError):
    """This build has no evidence export yet (the message says what to run instead)."""


#: Names the evidence module may give its export function, tried in order.
_EXPORT_FUNCTIONS = ("export_snapshot", "export_evidence", "export")


def _export_function() -> Any:
    for module_name in ("inspector.evidence", "inspector.evidence.export"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in _EXPORT_FUNCTIONS:
            function = getattr(module, name, None)
            if callable(function):
                return function
    raise EvidenceUnavailable(
        "Evidence export is not available in this build; use `cryptoscope export --out DIR`."
    )


def export_snapshot(db_path: Path, out_dir: Path) -> str:
    """Export `db_path` to `out_dir` (a consistent copy + manifest); returns a one-line summary."""
    function = _export_function()
    result = function(db_path, out_dir)
    return f"{out_dir}" + (f" ({result})" if isinstance(result, str) else "")
