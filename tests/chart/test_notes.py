"""NOTES.txt tells the operator the next command.

`helm template` does not render NOTES.txt and `helm install --dry-run` wants a
cluster, so the notes live in a named template ("cryptoscope.notes") that
NOTES.txt includes; the test renders that template through a copy of the chart
with one extra template that prints it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.rendering import CHART, FULLNAME, NAMESPACE, RELEASE, run_helm, template_command
from tests.chart.scenarios import SCENARIOS

pytestmark = pytest.mark.needs_helm

PROBE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: notes-probe
data:
  notes: {{ include "cryptoscope.notes" . | toJson }}
"""


def notes(tmp_path: Path, values: dict[str, Any]) -> str:
    chart = Path(tempfile.mkdtemp(dir=tmp_path)) / "cryptoscope"
    shutil.copytree(CHART, chart)
    (chart / "templates" / "zz-notes-probe.yaml").write_text(PROBE)
    completed = run_helm(
        *template_command(chart),
        "--show-only",
        "templates/zz-notes-probe.yaml",
        values=values,
        chart=chart,
    )
    assert completed.returncode == 0, completed.stderr
    text: str = yaml.safe_load(completed.stdout)["data"]["notes"]
    return text


def test_notes_txt_is_the_named_template() -> None:
    assert (
        CHART / "templates" / "NOTES.txt"
    ).read_text().strip() == '{{ include "cryptoscope.notes" . }}'


@pytest.mark.parametrize("scenario", ["default", "cluster", "sidecar"])
def test_notes_give_the_next_commands(tmp_path: Path, scenario: str) -> None:
    text = notes(tmp_path, SCENARIOS[scenario])
    if scenario == "sidecar":  # the sidecars run in the workloads' pods and namespaces
        assert (
            "cryptoscope collect --namespace payments --selector <your-workload-pod-labels>" in text
        )
    else:
        assert (
            f"cryptoscope collect --namespace {NAMESPACE} --selector app.kubernetes.io/instance={RELEASE}"
            in text
        )
    assert "cryptoscope tui" in text
    assert f"--clusterrole={FULLNAME}-evidence-reader" in text
    if scenario == "default":
        assert "pod-security.kubernetes.io/enforce=privileged" in text
    if scenario == "sidecar":
        assert f"kubectl get configmap {FULLNAME}-sidecar" in text


def test_notes_warn_when_key_vault_has_no_identity(tmp_path: Path) -> None:
    assert "no workload identity is set" in notes(tmp_path, {})
    assert "no workload identity is set" not in notes(tmp_path, SCENARIOS["daemonset-everything"])


@pytest.mark.parametrize("scenario", ["default", "sidecar"])
def test_the_commands_in_the_notes_parse_with_the_real_cli(tmp_path: Path, scenario: str) -> None:
    """Each `cryptoscope ...` line is accepted by the CLI's own parser (for the commands that exist)."""
    import shlex

    from inspector.cli import build_parser

    parser = build_parser()
    subcommands = next(
        action.choices for action in parser._actions if isinstance(action.choices, dict)
    )
    assert "tui" in subcommands
    # The commands are the indented lines (the first line names the release's version).
    lines = [
        line.strip()
        for line in notes(tmp_path, SCENARIOS[scenario]).splitlines()
        if line.startswith("  cryptoscope ")
    ]
    assert {shlex.split(line)[1] for line in lines} == {"collect", "tui"}
    for line in lines:
        argv = shlex.split(line)[1:]
        if argv[0] not in subcommands:
            continue  # not written yet: checked once it is
        parser.parse_args(argv)  # argparse exits (SystemExit 2) on an unknown option
