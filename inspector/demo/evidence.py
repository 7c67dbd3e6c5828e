"""Step 6: the auditor's view — reports written as files, an evidence snapshot exported and verified.

Runs the real subcommands in process — ``waiver add`` (one documented
exception, so a waived finding shows), ``report`` (three reports as Markdown
files), ``keygen``, ``export --sign-key`` and ``verify --public-key`` — as an
operator would, with their own output captured so it does not clutter the
progress lines.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
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
    #: The file or directory it produces.
    output: str


@dataclasses.dataclass(frozen=True, slots=True)
class DemoWaiver:
    """The documented exception the demo records, so reports and the TUI show a waived finding."""

    rule: str = "P7"
    subject: str = "web/Deployment/storefront/*"
    reason: str = "metrics port scraped only from inside the node; carries no cardholder data"
    approver: str = "security-officer@demo.invalid"
    days: int = 90

    def argv(self, db: Path) -> tuple[str, ...]:
        expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=self.days)).strftime("%Y-%m-%d")
        return (
            "waiver", "add", "--db", str(db), "--rule", self.rule, "--subject", self.subject,
            "--reason", self.reason, "--approver", self.approver, "--expires", expires,
        )  # fmt: skip


WAIVER = DemoWaiver()


def invocations(db: Path, workdir: Path) -> tuple[Invocation, ...]:
    reports = workdir / "reports"
    evidence = workdir / "evidence"
    signing = workdir / "evidence-signing"
    return (
        Invocation(f"waiver for {WAIVER.rule}", "waiver", WAIVER.argv(db), str(db)),
        *(
            Invocation(
                label,
                "report",
                (
                    "report",
                    kind,
                    "--db",
                    str(db),
                    "--format",
                    "markdown",
                    "--out",
                    str(reports / f"{kind}.md"),
                ),
                str(reports / f"{kind}.md"),
            )
            for kind, label in (
                ("inventory", "12.3.3 / 4.2.1.1 inventory"),
                ("findings", "findings by requirement"),
                ("keys", "3.6 / 3.7 key management"),
            )
        ),
        Invocation(
            "Ed25519 signing key pair",
            "keygen",
            ("keygen", "--out", str(signing)),
            f"{signing}.pub",
        ),
        Invocation(
            "signed evidence snapshot",
            "export",
            ("export", "--db", str(db), "--out", str(evidence), "--sign-key", f"{signing}.key"),
            str(evidence),
        ),
        Invocation(
            "snapshot verified",
            "verify",
            ("verify", str(evidence), "--public-key", f"{signing}.pub"),
            str(evidence),
        ),
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
    progress.start("Recording a waiver, writing the reports, exporting the signed evidence")
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
        key = {"report": f"{invocation.argv[1]} report", "keygen": "public key"}.get(
            invocation.command, "evidence"
        )
        if invocation.command != "waiver":
            state.files[key] = invocation.output
        progress.note(f"{invocation.label:<28} {invocation.output}")
        done += 1
    state.save("evidence")
    progress.ok(f"{done} of {len(invocations(db, workdir))} done")
