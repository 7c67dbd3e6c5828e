"""The live terminal UI (Textual) over the evidence store.

Layers: :mod:`~inspector.tui.filtering`, :mod:`~inspector.tui.queries`,
:mod:`~inspector.tui.database` and :mod:`~inspector.tui.saving` are plain
Python (no Textual) and hold every SQL statement; :mod:`~inspector.tui.app`
and :mod:`~inspector.tui.screens` are the UI.
"""
