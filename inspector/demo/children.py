"""Running ``cryptoscope`` subcommands as child processes of the demo, and stopping them."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.config import SETTINGS_BY_NAME
from inspector.cli import build_parser
from inspector.demo.lifecycle import StepFailed


def available_commands() -> set[str]:
    """Subcommands this build of cryptoscope has (others may not have landed in a checkout)."""
    parser = build_parser()
    for action in parser._subparsers._group_actions if parser._subparsers else ():  # noqa: SLF001
        choices = getattr(action, "choices", None)
        if choices:
            return set(choices)
    return set()


def cryptoscope_command(*argv: str) -> list[str]:
    """``cryptoscope ARGV`` run by this interpreter (works from a checkout and from an install)."""
    return [sys.executable, "-m", "inspector", *argv]


def settings_environment(values: Mapping[str, object]) -> dict[str, str]:
    """Agent settings (by name, as in :mod:`agent.config`) as the environment variables the chart sets.

    Settings this build does not know are left out, so the demo runs against
    an agent that has fewer knobs.
    """
    env: dict[str, str] = {}
    for name, value in values.items():
        setting = SETTINGS_BY_NAME.get(name)
        if setting is None:
            continue
        env[setting.env] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def clean_environment() -> dict[str, str]:
    """The demo's environment minus anything that could point a child at a real cluster or vault."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KUBE", "AZURE_", "CRYPTOSCOPE_", "NODE_NAME", "POD_", "IDENTITY_"))
    }


def run_child(
    argv: list[str],
    env: Mapping[str, str],
    log: Path,
    timeout: float,
    on_start: Callable[[int], None] = lambda pid: None,
) -> int:
    """Run a child to completion with its output in `log`.

    On timeout it is a :class:`StepFailed`; on an interrupt (or any error) the
    child is terminated, then killed if it does not stop within 10 s.
    """
    with log.open("ab") as sink:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=dict(env)
        )
        try:
            on_start(process.pid)
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StepFailed(f"`{' '.join(argv[3:])}` took longer than {timeout:.0f} s") from None
        finally:
            stop_process(process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
