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


#: The value of a setting the agent works out for itself (``--cycle-deadline auto``).
AUTO = "auto"


def _cycle_deadline(text: str) -> float | str:
    """``auto`` or seconds > 0."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return _positive_float(text)
    except ValueError:
        raise ValueError(f"must be {AUTO} or seconds > 0: {text!r}") from None


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise ValueError(f"must be >= 0: {text!r}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError(f"not a TCP port: {text!r}")
    return value


def _port_list(text: str) -> str:
    """Comma-separated ports; validated, kept as text (the default is "")."""
    for item in filter(None, (part.strip() for part in text.split(","))):
        _port(item)
    return text


def _egress_targets(text: str) -> str:
    """Comma-separated HOST:PORT[/SNI]; validated, kept as text."""
    for item in filter(None, (part.strip() for part in text.split(","))):
        address = item.split("/", 1)[0]
        host, sep, port = address.rpartition(":")
        if not sep or not host:
            raise ValueError(f"egress target needs HOST:PORT: {item!r}")
        _port(port)
    return text


def _cryptoperiods(text: str) -> str:
    """``TYPE=DAYS,...`` for secret, key, cert (Key Vault / CSI rules); validated, kept as text."""
    from agent.secrets.compare import parse_cryptoperiods

    parse_cryptoperiods(text)
    return text


def _vault_urls(text: str) -> str:
    """``VAULT=https://HOST[:PORT],...``; validated, kept as text."""
    from agent.secrets.keyvault import parse_vault_urls

    parse_vault_urls(text)
    return text


def _environment(text: str) -> str:
    """``prod``, ``staging``, ``test``, ``dev`` or empty (unknown); rule V12 (agent.rules.reuse)."""
    from agent.rules.reuse import parse_environment

    return parse_environment(text)


MODES = ("daemonset", "sidecar", "cluster")

#: Every agent setting. Extend here (and only here). One line per setting: a table, not code.
# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("mode", _mode, "daemonset", "daemonset (pods on this node), sidecar (own pod) or cluster (everything)"),
    Setting("node_name", str, "", "this node's name (downward API spec.nodeName)", env_override="NODE_NAME"),
    Setting("pod_name", str, "", "this pod's name (downward API)", env_override="POD_NAME"),
    Setting("pod_namespace", str, "", "this pod's namespace (downward API)", env_override="POD_NAMESPACE"),
    Setting("db", str, "/var/lib/cryptoscope/cryptoscope.db", "SQLite database path"),
    Setting("scan_interval", _positive_float, 300.0, "seconds between cycles (jitter added)"),
    Setting("jitter", float, 0.1, "fraction of the interval added at random"),
    Setting("cycle_deadline", _cycle_deadline, AUTO, "seconds a cycle may take before it is cut; auto: (planned endpoints / concurrency + 1) x endpoint deadline, at least the scan interval"),
    Setting("concurrency", _positive_int, 32, "endpoints probed at once on this node"),
    Setting("connect_timeout", _positive_float, 3.0, "TCP connect timeout, seconds"),
    Setting("read_timeout", _positive_float, 3.0, "read timeout, seconds"),
    Setting("endpoint_deadline", _positive_float, 60.0, "seconds one endpoint may take"),
    Setting("profile", str, "pci", "rule profile: pci or nist"),
    Setting("retention_runs", _positive_int, 200, "runs kept per agent (the latest is always kept)"),
    Setting("cert_expiry_warn_days", _positive_int, 28, "days before a certificate's notAfter that rule K6 warns (4.2.1)"),
    Setting("cert_expiry_critical_days", _positive_int, 14, "days before notAfter that K6 is raised to high; at most the warn days"),
    Setting("ca_file", str, "", "PEM bundle of the cluster's internal CAs, for chain validation"),
    Setting("check_revocation", _bool, True, "check every served certificate: stapled OCSP, OCSP responder / CRL (rule K7)"),
    Setting("revocation_timeout", _positive_float, 10.0, "seconds the revocation check of one endpoint may take"),
    Setting("listen", str, "0.0.0.0:9443", "address of the agent's HTTPS endpoint"),
    Setting("tls_cert_file", str, "", "certificate for the HTTPS endpoint (self-signed when empty)"),
    Setting("tls_key_file", str, "", "private key for the HTTPS endpoint"),
    Setting("kubelet_pods_dir", str, "/var/lib/kubelet/pods", "kubelet pods directory (mounted read-only)"),
    Setting("keyvault_enabled", _bool, True, "compare mounts with Key Vault metadata"),
    Setting("egress_targets", _egress_targets, "", "comma-separated HOST:PORT[/SNI] external endpoints to probe"),
    # -- Kubernetes access and discovery
    Setting("kubeconfig", str, "", "kubeconfig file (outside a cluster); in-cluster config when empty inside a pod"),
    Setting("context", str, "", "kubeconfig context (default: the current context)"),
    Setting("cluster_domain", str, "cluster.local", "cluster DNS domain, for service SNI names"),
    Setting("api_timeout", _positive_float, 30.0, "seconds one Kubernetes API request may take"),
    Setting("page_size", _positive_int, 500, "items per Kubernetes list page (limit/continue)"),
    Setting("watch", _bool, True, "watch pods between cycles and start a cycle early when they change"),
    Setting("min_cycle_gap", _non_negative_float, 15.0, "seconds at least between two cycles when woken early"),
    Setting("api_backoff_max", _positive_float, 300.0, "longest wait after repeated Kubernetes API errors, seconds"),
    Setting("ingress", _bool, True, "probe every Ingress/Gateway TLS host through its controller with that SNI"),
    Setting(
        "ingress_service",
        str,
        "",
        "NAMESPACE/NAME of the ingress controller Service (default: Services labelled app.kubernetes.io/component=controller)",
    ),
    Setting("sidecar_exclude_ports", _port_list, "", "comma-separated ports of its own pod a sidecar agent skips"),
    Setting("agent_id", str, "", "this agent's identity in the store (default: pod name, else host name)"),
    Setting("once", _bool, False, "run one cycle and exit (exit 1 when the cycle failed)"),
    # -- the HTTPS endpoint's /snapshot authorisation (SubjectAccessReview attributes)
    Setting("authz_verb", str, "get", "SubjectAccessReview verb required for /snapshot"),
    Setting("authz_group", str, "cryptoscope.io", "SubjectAccessReview API group required for /snapshot"),
    Setting("authz_resource", str, "snapshots", "SubjectAccessReview resource required for /snapshot"),
    Setting("authz_subresource", str, "", "SubjectAccessReview subresource required for /snapshot"),
    Setting("authz_namespace", str, "", "SubjectAccessReview namespace (default: the agent's own namespace)"),
    # -- CSI-mounted secrets and Key Vault (agent/secrets, docs/secrets.md)
    Setting("secrets_cryptoperiods", _cryptoperiods, "secret=365,key=365,cert=398", "cryptoperiod per Key Vault object type in days, TYPE=DAYS,... (3.7.4)"),
    Setting("keyvault_urls", _vault_urls, "", "VAULT=https://HOST[:PORT],... base URLs replacing https://VAULT.vault.azure.net"),
    Setting("keyvault_ca_file", str, "", "CA bundle for the Key Vault TLS connection (default: system trust)"),
    Setting("keyvault_verify_challenge_resource", _bool, True, "require the vault's auth challenge to name its own domain (off only for loopback test vaults)"),
    # -- cross-cluster rules (cryptoscope collect)
    Setting("environment", _environment, "", "this cluster's environment: prod, staging, test, dev, or empty (unknown); rule V12 compares keys across collected clusters"),
)
# fmt: on

SETTINGS_BY_NAME: Mapping[str, Setting] = {setting.name: setting for setting in SETTINGS}


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the flag and the variable."""


def resolve(flags: Mapping[str, str | None], environ: Mapping[str, str]) -> dict[str, Any]:
    """Every setting's value: flag (as text) over environment variable over default.

    Raises :class:`SettingsError` listing every invalid value at once.
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    for setting in SETTINGS:
        raw = flags.get(setting.name)
        source = setting.flag
        if raw is None and setting.env in environ:
            raw, source = environ[setting.env], setting.env
        if raw is None:
            values[setting.name] = setting.default
            continue
        try:
            values[setting.name] = setting.parse(raw)
        except ValueError as exc:
            problems.append(f"{source}: {exc}")
    if not problems and values["cert_expiry_critical_days"] > values["cert_expiry_warn_days"]:
        problems.append(
            f"{SETTINGS_BY_NAME['cert_expiry_critical_days'].flag}: {values['cert_expiry_critical_days']}"
            f" is more than {SETTINGS_BY_NAME['cert_expiry_warn_days'].flag} {values['cert_expiry_warn_days']}"
        )
    if problems:
        raise SettingsError("invalid settings: " + "; ".join(problems))
    return values


def parse_port_list(text: str) -> tuple[int, ...]:
    return tuple(_port(part.strip()) for part in text.split(",") if part.strip())


def parse_egress_targets(text: str) -> tuple[tuple[str, int, str | None], ...]:
    """``HOST:PORT[/SNI],...`` as (host, port, sni) triples; IPv6 hosts in brackets."""
    targets: list[tuple[str, int, str | None]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        address, _, sni = item.partition("/")
        host, _, port = address.rpartition(":")
        targets.append((host.strip("[]"), _port(port), sni or None))
    return tuple(targets)


#: The resolved settings as one frozen object: attribute per setting name (``settings.scan_interval``).
AgentSettings = dataclasses.make_dataclass(
    "AgentSettings",
    [(setting.name, Any, dataclasses.field(default=setting.default)) for setting in SETTINGS],
    frozen=True,
    slots=True,
)


def load_settings(
    flags: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None
) -> Any:
    """:class:`AgentSettings` from flags (text), then the environment, then defaults; raises SettingsError."""
    import os

    return AgentSettings(**resolve(flags or {}, os.environ if environ is None else environ))


#: Public name of the boolean parser (the CLI gives boolean settings an optional value).
parse_bool = _bool
