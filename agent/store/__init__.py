"""The evidence store (SQLite, WAL): schema, migrations, and the write and read API.

- :mod:`agent.store.schema` — the forward-only migration list. To add tables
  (e.g. the secret and Key Vault tables), append one ``@MIGRATIONS()`` function
  at the end of that module; nothing else changes.
- :mod:`agent.store.store` — :class:`Store`: ``open``, ``begin_run``,
  ``record_endpoint_scan(s)``, ``record_error``, ``record_findings``,
  ``finish_run``, ``prune``, waivers.
- :mod:`agent.store.model` — :class:`EndpointIdentity` (who an endpoint is) and
  time helpers.
"""

from agent.store.model import EndpointIdentity, parse_utc_text, utc_text
from agent.store.store import (
    SchemaTooNewError,
    SchemaTooOldError,
    Store,
    StoreError,
    schema_version,
)

__all__ = [
    "EndpointIdentity",
    "SchemaTooNewError",
    "SchemaTooOldError",
    "Store",
    "StoreError",
    "parse_utc_text",
    "schema_version",
    "utc_text",
]
