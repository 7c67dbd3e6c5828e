"""Progress lines and the guarantee that everything the demo started stops.

:class:`Progress` prints one line when a step starts and one when it ends.
:func:`signals_raise` turns SIGINT and SIGTERM into :class:`Interrupted`, so the
``with`` blocks holding the servers unwind on Ctrl-C and on ``kill`` alike;
while they unwind, further signals are ignored so cleanup is never cut short.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator
from types import FrameType
from typing import TextIO


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; unwinds like KeyboardInterrupt (not caught by ``except Exception``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


_HANDLED = (signal.SIGINT, signal.SIGTERM)


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """Inside: SIGINT/SIGTERM raise :class:`Interrupted`. Restores the previous handlers on exit."""
    previous = {signum: signal.signal(signum, _raise) for signum in _HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def signals_ignored() -> Iterator[None]:
    """Inside: SIGINT/SIGTERM are ignored (cleanup must finish)."""
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in _HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class StepFailed(Exception):
    """A step that the demo cannot go on without failed; the message says why."""


class Progress:
    """``[3/8] Starting the loopback Key Vault`` … ``      ok: 9 objects (0.4 s)``."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.number = 0
        self.stream = stream or sys.stdout
        self._started = 0.0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, title: str) -> None:
        self.number += 1
        self._started = time.monotonic()
        self._print(f"[{self.number}/{self.total}] {title}")

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self._started:.1f} s"

    def ok(self, detail: str) -> None:
        self._print(f"      ok: {detail} ({self._elapsed()})")

    def note(self, detail: str) -> None:
        """A line inside a step (a sub-result, or what was skipped and why)."""
        self._print(f"      {detail}")

    def skipped(self, detail: str) -> None:
        self._print(f"      skipped: {detail}")

    def failed(self, detail: str) -> None:
        self._print(f"      FAILED: {detail} ({self._elapsed()})")

    def line(self, text: str = "") -> None:
        self._print(text)
