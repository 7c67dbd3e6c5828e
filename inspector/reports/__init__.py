"""Read-side reports over a cryptoscope database: inventories, findings, run diffs.

Each builder returns a :class:`inspector.reports.model.Report` (sections of
rows); :mod:`inspector.reports.render` writes it as Markdown, CSV or JSON.
"""
