"""`cryptoscope collect` gives back every socket it opens: the port-forward websockets to the API server,
the tunnels and the API client's pool, on success and on every failure path (agent unreachable, 403)."""

from __future__ import annotations

import gc
import os
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inspector.lab.kube_api import KubeAPIServer
from tests.collect.test_collect import Cluster

pytestmark = pytest.mark.timeout(180)


def open_sockets() -> set[str]:
    """The socket inodes this process holds (``/proc/self/fd`` entries that are sockets)."""
    found = set()
    for entry in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{entry}")
        except OSError:  # closed meanwhile (the listing's own descriptor, a server thread's socket)
            continue
        if target.startswith("socket:"):
            found.add(target)
    return found


def settled_extra_sockets(before: set[str], wait: float = 30.0) -> set[str]:
    """Sockets open now that were not `before`, once the lab servers' handler threads have closed
    their ends of finished connections (they do so a moment after the client; a leak never settles)."""
    deadline = time.monotonic() + wait
    while (extra := open_sockets() - before) and time.monotonic() < deadline:
        time.sleep(0.1)
    return extra


def proxy_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("Kubernetes port forward")]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with KubeAPIServer() as kube_api:
        built = Cluster(tmp_path, kube_api)
        with built.stack:
            yield built


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_collect_holds_no_more_sockets_afterwards(cluster: Cluster, capsys: Any) -> None:
    # warm-up: the lab servers' own keep-alive connections (the agents' TokenReview client) now exist
    code, out = cluster.collect(capsys)
    assert code == 1 and "2 of 3 agents collected" in out
    gc.collect()
    before = open_sockets()
    gc.disable()  # a leaked socket must show as an open descriptor, not be reaped by a collection
    try:
        for token in ("op-token", "op-token", "dev-token"):
            code, out = cluster.collect(capsys, token=token)
            assert code == 1
            assert out.count("NOT collected") == (1 if token == "op-token" else 3), out
        assert proxy_threads() == []
        extra = settled_extra_sockets(before)
    finally:
        gc.enable()
    # 3 collects x 3 agents: 6 snapshots fetched, 3 unreachable, 2 refused with 403
    assert extra == set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
