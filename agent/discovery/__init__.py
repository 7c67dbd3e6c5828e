"""Kubernetes discovery: which endpoints this agent probes, and who they belong to.

    reader = KubeReader(api_client(kubeconfig, context))
    targets = discover(reader, scope)      # tuple[DiscoveredTarget, ...]

`plan_targets` is the pure part (manifests in, targets out); `KubeReader`
does the paged reads; `PodWatcher` wakes the loop when pods change.
"""

from __future__ import annotations

import dataclasses

from agent.discovery.client import KubeConfigError, api_client
from agent.discovery.model import (
    ClusterState,
    DiscoveredTarget,
    DiscoveryScope,
    Source,
    Workload,
)
from agent.discovery.reader import DiscoveryError, KubeReader
from agent.discovery.targets import plan_targets
from agent.discovery.watch import PodWatcher, WatchCounters

__all__ = [
    "ClusterState",
    "DiscoveredTarget",
    "DiscoveryError",
    "DiscoveryScope",
    "KubeConfigError",
    "KubeReader",
    "PodWatcher",
    "Source",
    "WatchCounters",
    "Workload",
    "api_client",
    "discover",
    "plan_targets",
]


def discover(
    reader: KubeReader | None, scope: DiscoveryScope
) -> tuple[ClusterState, tuple[DiscoveredTarget, ...]]:
    """Read the cluster state for `scope` and plan its targets (no reader, no Kubernetes
    access: the declared egress targets only).

    Objects whose manifest cannot be planned are left out; why joins the state's warnings.
    """
    state = ClusterState() if reader is None else reader.read_state(scope)
    skipped: list[str] = []
    targets = plan_targets(state, scope, skipped)
    if skipped:
        state = dataclasses.replace(state, warnings=(*state.warnings, *skipped))
    return state, targets
