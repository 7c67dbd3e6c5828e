"""`e`: write an evidence snapshot with the store's own export (:func:`inspector.evidence.export_snapshot`)."""

from __future__ import annotations

from pathlib import Path


class EvidenceUnavailable(RuntimeError):
    """This build has no evidence export (the message says what to run instead)."""


def export_snapshot(db_path: Path, out_dir: Path) -> str:
    """Export `db_path` to `out_dir` (consistent copy + manifest.json); returns a one-line summary.

    Raises:
        EvidenceUnavailable: the evidence module is missing from this build.
        inspector.evidence.EvidenceError: the export refused (message says why; nothing half-written).
    """
    try:
        from inspector import evidence
    except ImportError as exc:  # pragma: no cover - the module ships with the inspector
        raise EvidenceUnavailable(
            "Evidence export is not available in this build; use `cryptoscope export --out DIR`."
        ) from exc
    result = evidence.export_snapshot(db_path, out_dir)
    return f"{out_dir} (database sha256 {result.sha256[:16]}…, manifest {result.manifest.name})"
