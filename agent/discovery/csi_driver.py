"""The Secrets Store CSI driver's rotation setting, read from its DaemonSet (reference rule V6).

The driver runs as a DaemonSet in ``kube-system``: upstream ``csi-secrets-store`` (the
Helm chart's carries the label ``app=secrets-store-csi-driver``), the AKS add-on
``aks-secrets-store-csi-driver``. Its driver container's arguments say whether
mounted secrets are refreshed::

    --enable-secret-rotation[=true|false]   (Go bool flag; absent: false)
    --rotation-poll-interval=2m             (Go duration; absent: 2m)

:func:`read_csi_drivers` lists the DaemonSets (paged, label selector, then the known
names), :func:`driver_facts` parses one; both are facts only, never an exception: a
missing permission or no driver found is a :class:`CsiDriverFacts` with status
``unknown`` / ``not-found`` and the reason. :func:`inspect` is the agent loop's
inspector (``agent.runner.INSPECTOR_MODULES``): it records the facts once per cycle
(table ``csi_driver_observations``) and the V6 findings.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from agent.discovery.model import Manifest
from agent.discovery.reader import DiscoveryError, KubeReader

log = logging.getLogger(__name__)

#: Where the driver runs, how it is labelled and named (upstream manifests, Helm chart, AKS add-on).
DRIVER_NAMESPACE = "kube-system"
DRIVER_LABEL_SELECTOR = "app=secrets-store-csi-driver"
DRIVER_NAMES: tuple[str, ...] = ("csi-secrets-store", "aks-secrets-store-csi-driver")
#: The driver container's name in every one of them.
DRIVER_CONTAINER = "secrets-store"

ROTATION_FLAG = "enable-secret-rotation"
POLL_INTERVAL_FLAG = "rotation-poll-interval"
#: The driver's defaults (cmd/secrets-store-csi-driver/main.go).
DEFAULT_ROTATION = False
DEFAULT_POLL_INTERVAL = "2m"


class Status:
    FOUND = "found"
    NOT_FOUND = "not-found"
    UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True, slots=True)
class CsiDriverFacts:
    """What one cycle learned about the driver's rotation (one row per DaemonSet, or one status row)."""

    status: str
    namespace: str = DRIVER_NAMESPACE
    daemonset: str = ""
    container: str = ""
    image: str = ""
    #: True/False as the driver will run; None when unknown (see `reason`).
    rotation_enabled: bool | None = None
    #: The argument as written (``--enable-secret-rotation=false``); empty: absent (the default).
    rotation_argument: str = ""
    poll_interval: str | None = None
    poll_interval_seconds: float | None = None
    reason: str = ""

    @property
    def subject_key(self) -> str:
        return f"csi-driver:{self.namespace}/{self.daemonset or '-'}"


# ------------------------------------------------------------------ Go flag parsing

_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_ENV_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def go_bool(text: str) -> bool | None:
    """strconv.ParseBool; None for what the driver would refuse."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    return None


def go_duration_seconds(text: str) -> float | None:
    """time.ParseDuration (``2m``, ``1h30m``, ``90s``, ``0``); None when it is not one."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        return None
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    return sign * total if position == len(body) else None


def _expand(argument: str, env: Mapping[str, str | None]) -> str | None:
    """Kubernetes ``$(VAR)`` expansion from the container's literal env; None when a value is not literal."""
    unresolved = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal unresolved
        name = match.group(1)
        if name in env and env[name] is not None:
            return str(env[name])
        if name in env:  # valueFrom: a ConfigMap, a field: not knowable from the manifest
            unresolved = True
        return match.group(0)  # an undefined variable stays as written (Kubernetes does too)

    expanded = _ENV_REFERENCE.sub(substitute, argument.replace("$$", "\0")).replace("\0", "$")
    return None if unresolved else expanded


def parse_flags(
    arguments: Iterable[str], env: Mapping[str, str | None] | None = None
) -> dict[str, tuple[str, str | None]]:
    """Go `flag` package parsing of the two rotation flags: flag -> (argument as written, value).

    ``-name`` and ``--name`` alike; ``--name=value``; a bool flag takes no separate value,
    the duration flag may (``--rotation-poll-interval 5m``); parsing stops at ``--``; other
    words are taken as values of flags not parsed here; the last occurrence wins. A value of None: the argument names
    an environment variable whose value is not literal in the manifest.
    """
    found: dict[str, tuple[str, str | None]] = {}
    items = list(arguments)
    index = 0
    while index < len(items):
        written = items[index]
        argument = _expand(written, env or {})
        index += 1
        if argument is None:
            name = written.lstrip("-").split("=", 1)[0]
            if name in (ROTATION_FLAG, POLL_INTERVAL_FLAG):
                found[name] = (written, None)
            continue
        if argument == "--":
            break
        if not argument.startswith("-") or argument == "-":
            continue  # a separate value of another flag (whose type is not known here)
        name, has_value, value = argument.lstrip("-").partition("=")
        if name == ROTATION_FLAG:
            found[name] = (written, value if has_value else "true")
        elif name == POLL_INTERVAL_FLAG:
            if not has_value and index < len(items):
                value = items[index]
                written = f"{written} {value}"
                index += 1
            found[name] = (written, value)
    return found


# ------------------------------------------------------------------ one DaemonSet


def _driver_container(daemonset: Manifest) -> Manifest | None:
    containers = ((daemonset.get("spec") or {}).get("template") or {}).get("spec") or {}
    candidates = list(containers.get("containers") or [])
    for container in candidates:
        if container.get("name") == DRIVER_CONTAINER:
            return dict(container)
    for container in candidates:
        if "secrets-store/driver" in str(container.get("image", "")):
            return dict(container)
    return None


def driver_facts(daemonset: Manifest) -> CsiDriverFacts:
    """The rotation setting of one driver DaemonSet, as its driver container will run."""
    metadata = daemonset.get("metadata") or {}
    base = CsiDriverFacts(
        status=Status.FOUND,
        namespace=str(metadata.get("namespace", "")),
        daemonset=str(metadata.get("name", "")),
    )
    container = _driver_container(daemonset)
    if container is None:
        return dataclasses.replace(
            base,
            status=Status.UNKNOWN,
            reason=f"no container named {DRIVER_CONTAINER!r} (nor a secrets-store/driver image)",
        )
    env: dict[str, str | None] = {
        str(item.get("name")): (str(item["value"]) if "value" in item else None)
        for item in container.get("env") or []
        if item.get("name")
    }
    flags = parse_flags(
        [*(container.get("command") or []), *(container.get("args") or [])][1:]
        if container.get("command")
        else list(container.get("args") or []),
        env,
    )
    base = dataclasses.replace(
        base, container=str(container.get("name", "")), image=str(container.get("image", ""))
    )
    rotation_argument, rotation_value = flags.get(ROTATION_FLAG, ("", None))
    poll_argument, poll_value = flags.get(POLL_INTERVAL_FLAG, ("", DEFAULT_POLL_INTERVAL))
    problems: list[str] = []
    if not rotation_argument:
        enabled: bool | None = DEFAULT_ROTATION
    elif rotation_value is None:
        enabled = None
        problems.append(f"{rotation_argument} refers to a value not in the manifest")
    else:
        enabled = go_bool(rotation_value)
        if enabled is None:
            problems.append(f"{rotation_argument}: not a boolean the driver accepts")
    seconds = go_duration_seconds(poll_value) if poll_value is not None else None
    if poll_argument and seconds is None:
        problems.append(f"{poll_argument}: not a duration the driver accepts")
    return dataclasses.replace(
        base,
        status=Status.FOUND if enabled is not None else Status.UNKNOWN,
        rotation_enabled=enabled,
        rotation_argument=rotation_argument,
        poll_interval=poll_value,
        poll_interval_seconds=seconds,
        reason="; ".join(problems)
        or ("" if rotation_argument else f"--{ROTATION_FLAG} absent: the driver's default"),
    )


# ------------------------------------------------------------------ reading the cluster


def read_csi_drivers(reader: KubeReader) -> tuple[CsiDriverFacts, ...]:
    """The driver DaemonSets' facts; one ``not-found`` or ``unknown`` row when there is none to judge."""
    try:
        listed, _ = reader.list_all(
            reader.apps.list_namespaced_daemon_set,
            DRIVER_NAMESPACE,
            label_selector=DRIVER_LABEL_SELECTOR,
        )
        found = {str((ds.get("metadata") or {}).get("name", "")): ds for ds in listed}
        for name in DRIVER_NAMES:
            if name in found:
                continue
            try:
                found[name] = reader._call(
                    reader.apps.read_namespaced_daemon_set, name, DRIVER_NAMESPACE
                )
            except DiscoveryError as exc:
                if exc.status != 404:
                    raise
    except DiscoveryError as exc:
        why = "no permission to read" if exc.status in (401, 403) else "could not read"
        return (
            CsiDriverFacts(
                status=Status.UNKNOWN,
                reason=f"{why} DaemonSets in {DRIVER_NAMESPACE}: {exc}",
            ),
        )
    if not found:
        return (
            CsiDriverFacts(
                status=Status.NOT_FOUND,
                reason=(
                    f"no DaemonSet labelled {DRIVER_LABEL_SELECTOR} nor named "
                    f"{' or '.join(DRIVER_NAMES)} in {DRIVER_NAMESPACE}"
                ),
            ),
        )
    return tuple(driver_facts(found[name]) for name in sorted(found))


# ------------------------------------------------------------------ the agent loop's inspector

_SHARED: dict[str, Any] = {}


def _reader(settings: Any) -> KubeReader:
    key = f"{settings.kubeconfig}\0{settings.context}"
    if key not in _SHARED:
        from agent.discovery.client import api_client

        _SHARED[key] = KubeReader(
            api_client(settings.kubeconfig, settings.context),
            page_size=int(getattr(settings, "page_size", 500)),
            timeout=float(getattr(settings, "api_timeout", 30.0)),
        )
    reader: KubeReader = _SHARED[key]
    return reader


def inspect(context: Any, *, reader: KubeReader | None = None) -> tuple[str, ...]:
    """Read the driver's rotation setting, record it and judge V6; the subject keys covered.

    ``context`` is an :class:`agent.runner.CycleContext`. Without Kubernetes access the
    fact is recorded as unknown with the reason; nothing here raises for the cluster's sake.
    """
    from agent.discovery.client import KubeConfigError
    from agent.discovery.csi_records import record_csi_drivers

    judged: dict[str, Any] = {
        "profile": str(getattr(context.settings, "profile", "") or "pci"),
        "settings": context.settings,
    }
    if reader is None:
        try:
            reader = _reader(context.settings)
        except KubeConfigError as exc:
            facts: tuple[CsiDriverFacts, ...] = (
                CsiDriverFacts(status=Status.UNKNOWN, reason=f"no Kubernetes access: {exc}"),
            )
            return record_csi_drivers(context.store, context.run_id, facts, **judged)
    return record_csi_drivers(context.store, context.run_id, read_csi_drivers(reader), **judged)
