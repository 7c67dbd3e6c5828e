"""The TLS prober: a pure library (no Kubernetes, Azure, SQLite or Textual).

Public API (see the modules for details)::

    from agent.tls import Target, ScanOptions, scan_endpoint, scan_endpoints
    result = await scan_endpoint(Target("127.0.0.1", 8443), ScanOptions())
    results = await scan_endpoints([...], ScanOptions(concurrency=64))

The implementation lives in the sub-modules; this file only re-exports.
"""

from agent.tls.model import (
    PROTOCOL_NAMES,
    CertificateInfo,
    ChainValidation,
    EndpointScan,
    ProtocolResult,
    ScanOptions,
    Target,
    Transport,
    to_json,
)
from agent.tls.prober import scan_endpoint, scan_endpoints, scan_sync
from agent.tls.targets import TargetError, parse_target

__all__ = [
    "PROTOCOL_NAMES",
    "CertificateInfo",
    "ChainValidation",
    "EndpointScan",
    "ProtocolResult",
    "ScanOptions",
    "Target",
    "TargetError",
    "Transport",
    "parse_target",
    "scan_endpoint",
    "scan_endpoints",
    "scan_sync",
    "to_json",
]
