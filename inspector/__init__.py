"""cryptoscope inspector: everything the operator runs (CLI, TUI, reports, evidence)."""
