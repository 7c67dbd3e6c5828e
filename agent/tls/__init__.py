"""The TLS prober: a pure library (no Kubernetes, Azure, SQLite or Textual).

Public API (see the modules for details)::

    from agent.tls import Target, ScanOptions, scan_endpoint, scan_endpoints
    result = await scan_endpoint(Target("127.0.0.1", 8443), ScanOptions())
    results = await scan_endpoints([...], ScanOptions(concurrency=64))
    results = scan_sync([parse_target("[::1]:8443/api.internal")])   # no event loop

Modules, one job each:

- ``model``: the result dataclasses (the contract with store, rules, CLI, TUI);
- ``reference``: IANA suites and groups (generated data) and strength labels;
- ``certificates``: certificate facts, PEM loading, chain order and validation;
- ``wire`` / ``client_hello``: records, ClientHello building, strict parsers;
- ``connection`` / ``probe``: one probe per connection, counted and limited;
- ``starttls``: plaintext dialogs before TLS (PostgreSQL, SMTP, LDAP); ``ldap``: the
  StartTLS extended operation in BER; ``dh_groups``: published DH primes (RFC 7919,
  RFC 2409, RFC 3526, RFC 5114) by name, custom ones by size;
- ``classify``: what a port speaks; ``enumerate``: suites, order, groups;
- ``handshake``: the one pyOpenSSL handshake; ``prober``: the whole scan.
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
