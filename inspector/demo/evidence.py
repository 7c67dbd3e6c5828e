"""Step 6: the auditor's view — reports written as files, an evidence snapshot exported and verified.

Runs the real subcommands (``report``, ``export``, ``verify``) in process, with
their standard output captured into files in the work directory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from pathlib import Path

from inspector.demo.children import available_commands
from inspector.demo.lifecycle import Progress
from inspector.demo.state import DemoState


@dataclasses.dataclass(frozen=True, slots=True)
class Invocation:
    label: str
    command: str
    argv: tuple[str, ...]
    #: Where its standard output goes (relative to the work directory); None: kept in memory.
    output: str | None = None


def invocations(db: Path, workdir: Path) -> tuple[Invocation, ...]:
    reports = workdir / "reports"
    evidence = workdir / "evidence"
    return (
        Invocation(
            "12.3.3 / 4.2.1.1 inventory",
            "report",
            ("report", "inventory", "--db", str(db), "--format", "markdown"),
            str(reports / "inventory.md"),
        ),
        Invocation(
            "findings by requirement",
            "report",
            ("report", "findings", "--db", str(db), "--format", "markdown"),
            str(reports / "findings.md"),
        ),
        Invocation(
            "3.6 / 3.7 key management",
            "report",
            ("report", "keys", "--db", str(db), "--format", "markdown"),
            str(reports / "keys.md"),
        ),
        Invocation(
            "evidence snapshot", "export", ("export", "--db", str(db), "--out", str(evidence))
        ),
        Invocation("snapshot verified", "verify", ("verify", str(evidence))),
    )


def _run_in_process(argv: tuple[str, ...]) -> tuple[int, str]:
    from inspector.cli import main

    captured = io.StringIO()
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse on an option this build lacks
            code = int(exc.code or 0) if not isinstance(exc.code, str) else 2
        except Exception as exc:  # a half-built command must not take the demo down
            captured.write(f"{type(exc).__name__}: {exc}\n")
            code = 1
    return code, captured.getvalue()


def write(db: Path, workdir: Path, state: DemoState, progress: Progress) -> None:
    progress.start("Writing the reports and exporting the evidence snapshot")
    commands = available_commands()
    done = 0
    for invocation in invocations(db, workdir):
        if invocation.command not in commands:
            reason = (
                f"{invocation.label}: the `{invocation.command}` command is not part of this build"
            )
            progress.skipped(reason)
            state.skipped.append(reason)
            continue
        code, output = _run_in_process(invocation.argv)
        if code != 0:
            last = output.strip().splitlines()[-1] if output.strip() else f"exit code {code}"
            reason = (
                f"{invocation.label}: `cryptoscope {' '.join(invocation.argv[:2])}` failed: {last}"
            )
            progress.skipped(reason)
            state.skipped.append(reason)
            continue
        if invocation.output:
            path = Path(invocation.output)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(output)
            state.files[path.stem + " report"] = str(path)
            progress.note(f"{invocation.label:<28} {path}")
        else:
            target = invocation.argv[-1]
            state.files.setdefault("evidence", target)
            progress.note(f"{invocation.label:<28} {target}")
        done += 1
    state.save("evidence")
    progress.ok(f"{done} of {len(invocations(db, workdir))} done")
