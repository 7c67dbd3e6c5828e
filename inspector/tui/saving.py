"""Saving what a view shows (ctrl+s): every matching row, as CSV or JSON. No Textual here."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

FORMATS = ("csv", "json")


class SaveError(ValueError):
    """The view cannot be saved there (bad extension, unwritable directory)."""


def format_for(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise SaveError(f"{path.name}: end the name in .csv or .json to pick the format")
    return suffix


def save_rows(
    path: Path,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    meta: Mapping[str, Any],
) -> int:
    """Write `rows` to `path` (format from the extension) atomically; return the row count.

    JSON is ``{"view": ..., "filter": ..., "columns": [...], "rows": [{...}]}`` plus `meta`;
    CSV has a header row and the stored values (no colours, no symbols).
    """
    fmt = format_for(path)
    if not path.parent.is_dir():
        raise SaveError(f"no directory {path.parent}")
    temporary = path.with_name(f".{path.name}.partial")
    count = 0
    try:
        with open(temporary, "w", encoding="utf-8", newline="") as handle:
            if fmt == "csv":
                writer = csv.writer(handle)
                writer.writerow(columns)
                for row in rows:
                    writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
                    count += 1
            else:
                materialised = [{c: row.get(c) for c in columns} for row in rows]
                count = len(materialised)
                json.dump(
                    {**meta, "columns": list(columns), "row_count": count, "rows": materialised},
                    handle,
                    indent=2,
                )
                handle.write("\n")
        os.replace(temporary, path)
    except OSError as exc:
        raise SaveError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        if temporary.exists():
            temporary.unlink()
    return count
