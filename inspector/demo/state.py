"""``demo.json`` in the work directory: what the demo started, for the user and for the tests.

Rewritten at every phase. It lists each loopback address the demo listens on
and the child processes it started, so a test (or a curious user) can check
that all of them are gone once the demo has exited.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

STATE_FILE = "demo.json"


def child_pids(pid: int | None = None) -> list[int]:
    """Direct children of a process (Linux ``/proc/<pid>/task/*/children``); empty elsewhere."""
    pid = pid or os.getpid()
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children.extend(int(item) for item in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return sorted(set(children))


@dataclasses.dataclass
class DemoState:
    workdir: Path
    phase: str = "starting"
    pid: int = dataclasses.field(default_factory=os.getpid)
    #: "namespace/workload/port" -> "ip:port" of every loopback server behind a pod.
    endpoints: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Other listeners: the Kubernetes API, the Key Vault.
    services: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Every child process seen while running (PostgreSQL, the agent).
    children: list[int] = dataclasses.field(default_factory=list)
    #: Files a user wants: database, reports, evidence directory, manifests, logs.
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    #: What could not be shown, with the reason.
    skipped: list[str] = dataclasses.field(default_factory=list)

    @property
    def path(self) -> Path:
        return self.workdir / STATE_FILE

    def note_children(self) -> None:
        self.children = sorted(set(self.children) | set(child_pids()))

    def save(self, phase: str | None = None) -> None:
        if phase:
            self.phase = phase
        self.note_children()
        document: dict[str, Any] = dataclasses.asdict(self)
        document["workdir"] = str(self.workdir)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        temporary.replace(self.path)
