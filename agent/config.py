"""The agent's settings: one table, the single source of truth for names.

Each setting has a flag (``--scan-interval``), an environment variable
(``CRYPTOSCOPE_SCAN_INTERVAL``) and a default. The Helm chart's environment
and its tests read this table (``SETTINGS``), so a name lives in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

ENV_PREFIX = "CRYPTOSCOPE_"


@dataclasses.dataclass(frozen=True, slots=True)
class Setting:
    name: str  # attribute name, snake_case
    parse: Callable[[str], Any]
    default: Any
    help: str
    #: Environment variable that sets it; derived from the name unless given.
    env_override: str | None = None

    @property
    def env(self) -> str:
        return self.env_override or ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"must be > 0: {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"must be > 0: {text!r}")
    return value


def _mode(text: str) -> str:
    if text not in MODES:
        raise ValueError(f"must be one of {', '.join(MODES)}: {text!r}")
    return text


MODES = ("daemonset", "sidecar", "cluster")

#: Every agent setting. Extend here (and only here).
SETTINGS: tuple[Setting, ...] = (
    Setting("mode", _mode, "daemonset", "daemonset (pods on this node), sidecar (own pod) or cluster (everything)"),
    Setting("node_name", str, "", "this node's name (downward API spec.nodeName)", env_override="NODE_NAME"),
    Setting("pod_name", str, "", "this pod's name (downward API)", env_override="POD_NAME"),
    Setting("pod_namespace", str, "", "this pod's namespace (downward API)", env_override="POD_NAMESPACE"),
    Setting("db", str, "/var/lib/cryptoscope/cryptoscope.db", "SQLite database path"),
    Setting("scan_interval", _positive_float, 300.0, "seconds between cycles (jitter added)"),
    Setting("jitter", float, 0.1, "fraction of the interval added at random"),
    Setting("cycle_deadline", _positive_float, 240.0, "seconds a cycle may take before it is cut"),
    Setting("concurrency", _positive_int, 32, "endpoints probed at once on this node"),
    Setting("connect_timeout", _positive_float, 3.0, "TCP connect timeout, seconds"),
    Setting("read_timeout", _positive_float, 3.0, "read timeout, seconds"),
    Setting("endpoint_deadline", _positive_float, 60.0, "seconds one endpoint may take"),
    Setting("profile", str, "pci", "rule profile: pci or nist"),
    Setting("retention_runs", _positive_int, 200, "runs kept per agent (the latest is always kept)"),
    Setting("ca_file", str, "", "PEM bundle of the cluster's internal CAs, for chain validation"),
    Setting("listen", str, "0.0.0.0:9443", "address of the agent's HTTPS endpoint"),
    Setting("tls_cert_file", str, "", "certificate for the HTTPS endpoint (self-signed when empty)"),
    Setting("tls_key_file", str, "", "private key for the HTTPS endpoint"),
    Setting("kubelet_pods_dir", str, "/var/lib/kubelet/pods", "kubelet pods directory (mounted read-only)"),
    Setting("keyvault_enabled", _bool, True, "compare mounts with Key Vault metadata"),
    Setting("egress_targets", str, "", "comma-separated HOST:PORT[/SNI] external endpoints to probe"),
)

SETTINGS_BY_NAME: Mapping[str, Setting] = {setting.name: setting for setting in SETTINGS}
