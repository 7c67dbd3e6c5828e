"""End to end: the real `cryptoscope tui` command in tmux — start, drill to an endpoint, filter, export, quit.

The screen is read back with `tmux capture-pane`, as an operator would see it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (./dev installs it)"
)

#: Generous: the machine is shared; the test asserts behaviour, never speed.
WAIT_S = 60.0


class Tmux:
    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def run(self, *args: str) -> str:
        completed = subprocess.run(
            ["tmux", "-f", "/dev/null", "-S", str(self.socket), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return completed.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "tui")

    def send(self, *keys: str) -> None:
        self.run("send-keys", "-t", "tui", *keys)

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "tui", "-l", text)

    def wait_for(self, needle: str, timeout: float = WAIT_S) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if needle in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} never appeared; the screen was:\n{screen}")

    def alive(self) -> bool:
        return "tui" in self.run("list-sessions", "-F", "#{session_name}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    session = Tmux(tmp_path / "tmux.sock")
    try:
        yield session
    finally:
        subprocess.run(
            ["tmux", "-S", str(session.socket), "kill-server"],
            capture_output=True,
            timeout=30,
            check=False,
        )


def test_operator_session_in_tmux(cluster_db: Path, tmp_path: Path, tmux: Tmux) -> None:
    save_dir = tmp_path / "out"
    save_dir.mkdir()
    cryptoscope = Path(sys.executable).with_name("cryptoscope")
    command = " ".join(
        shlex.quote(part)
        for part in (
            str(cryptoscope),
            "tui",
            str(cluster_db),
            "--save-dir",
            str(save_dir),
            "--refresh",
            "1",
        )
    )
    # pytest exports COLUMNS/LINES for its own width; the TUI must size itself from the tmux pane.
    env_prefix = f"cd {shlex.quote(str(tmp_path))} && unset COLUMNS LINES && TERM=xterm-256color exec {command}"
    tmux.run(
        "start-server",
        ";",
        "set-option",
        "-g",
        "default-size",
        "160x48",
        ";",
        "new-session",
        "-d",
        "-s",
        "tui",
        "-x",
        "160",
        "-y",
        "48",
        env_prefix,
    )
    overview = tmux.wait_for("aks-node-b")  # the last panel filled
    assert (
        "Endpoints by transport" in overview and "Open findings by PCI DSS requirement" in overview
    )

    tmux.type(":")
    tmux.wait_for(": jump")
    tmux.type("endpoints")
    tmux.send("Enter")
    tmux.wait_for("Endpoints: showing 9 of 9")

    tmux.type("/")
    tmux.wait_for("/ filter")
    tmux.type("pod:ledger")
    tmux.send("Enter")
    filtered = tmux.wait_for("showing 1 of 1")
    assert "filter /pod:ledger" in filtered and "ledger-db-0" in filtered

    tmux.send("Enter")
    detail = tmux.wait_for("Cipher suites per version")
    assert "TLS_RSA_WITH_RC4_128_SHA" in detail and "insecure" in detail
    assert "Endpoints › 10.1.0.20:5432" in detail

    tmux.type("e")
    deadline = time.monotonic() + WAIT_S
    manifests: list[Path] = []
    while time.monotonic() < deadline and not manifests:
        manifests = list(save_dir.glob("cryptoscope-evidence-*/manifest.json"))
        time.sleep(0.2)
    assert manifests, tmux.screen()
    manifest = json.loads(manifests[0].read_text())
    assert manifest["database"]["sha256"]
    tmux.wait_for("Evidence snapshot written")

    tmux.type("q")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and tmux.alive():
        time.sleep(0.2)
    assert not tmux.alive(), "cryptoscope tui did not exit on q"
    assert os.path.exists(cluster_db)  # the TUI never touched the database
