"""The TLS prober: a pure library (no Kubernetes, Azure, SQLite or Textual).

Public API (see the modules for details)::

    from agent.tls import Target, ScanOptions, scan_endpoint, scan_endpoints
    result = await scan_endpoint(Target("127.0.0.1", 8443), ScanOptions())
    results = await scan_endpoints([...], ScanOptions(concurrency=64))

The implementation lands in the sub-modules; this file only re-exports.
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

__all__ = [
    "PROTOCOL_NAMES",
    "CertificateInfo",
    "ChainValidation",
    "EndpointScan",
    "ProtocolResult",
    "ScanOptions",
    "Target",
    "Transport",
    "to_json",
]
