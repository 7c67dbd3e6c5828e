"""Suite-wide settings: no test writes outside its own temporary space."""

from __future__ import annotations

import os
import tempfile

# Commands run without --db fall back to $CRYPTOSCOPE_DB (else ~/.local/share/...): point it at a
# per-process scratch directory so no test touches the user's own database.
_SCRATCH = tempfile.mkdtemp(prefix="cryptoscope-tests-")
os.environ["CRYPTOSCOPE_DB"] = os.path.join(_SCRATCH, "default.db")
os.environ.setdefault("XDG_DATA_HOME", os.path.join(_SCRATCH, "xdg-data"))
