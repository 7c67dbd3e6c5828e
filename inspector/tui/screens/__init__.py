"""One module per screen; :mod:`inspector.tui.app` wires them together."""
