"""Run the real `helm` binary on charts/cryptoscope and hand back parsed manifests.

`helm` is looked up on PATH, then in ./.tools/bin (where scripts/install-helm.sh
puts it). Tests that need it skip, with the reason, only when neither exists.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "cryptoscope"
RELEASE = "audit"
NAMESPACE = "cryptoscope"
FULLNAME = f"{RELEASE}-cryptoscope"
#: The Kubernetes version rendered manifests are validated against (AKS supported range).
KUBERNETES_VERSION = "1.31.0"

Manifest = dict[str, Any]


def helm_binary() -> str | None:
    found = shutil.which("helm")
    if found:
        return found
    local = ROOT / ".tools" / "bin" / "helm"
    return str(local) if local.is_file() and os.access(local, os.X_OK) else None


def require_helm() -> str:
    binary = helm_binary()
    if binary is None:
        pytest.skip(
            "helm not found on PATH or in .tools/bin: run scripts/install-helm.sh (./dev test does)"
        )
    return binary


@functools.cache
def _helm_home() -> str:
    # Keep helm's cache/config/data out of the user's home; one per process (xdist-safe).
    home = tempfile.mkdtemp(prefix="cryptoscope-helm-home-")
    atexit.register(shutil.rmtree, home, True)
    return home


def run_helm(
    *args: str, values: Mapping[str, Any] | None = None, chart: Path = CHART
) -> subprocess.CompletedProcess[str]:
    """`helm <args> <chart>` with the values (if any) in a temporary file."""
    binary = require_helm()
    home = _helm_home()
    env = {
        **os.environ,
        "HELM_CACHE_HOME": f"{home}/cache",
        "HELM_CONFIG_HOME": f"{home}/config",
        "HELM_DATA_HOME": f"{home}/data",
        "KUBECONFIG": os.devnull,
    }
    with tempfile.TemporaryDirectory(prefix="cryptoscope-values-") as scratch:
        command = [binary, *args]
        if values is not None:
            values_file = Path(scratch) / "values.yaml"
            values_file.write_text(yaml.safe_dump(dict(values)))
            command += ["--values", str(values_file)]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=120, env=env, cwd=scratch
        )


def template_command(chart: Path = CHART) -> tuple[str, ...]:
    return ("template", RELEASE, str(chart), "--namespace", NAMESPACE)


@dataclasses.dataclass(frozen=True)
class Rendered:
    """The manifests `helm template` produced for one values file."""

    manifests: tuple[Manifest, ...]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [m for m in self.manifests if m["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Manifest:
        found = [m for m in self.of_kind(kind) if name is None or m["metadata"]["name"] == name]
        assert len(found) == 1, (
            f"expected one {kind} {name or ''}, found {[m['metadata']['name'] for m in found]}"
        )
        return found[0]

    def pod_specs(self) -> Iterator[tuple[str, Manifest]]:
        """(workload name, pod spec) of every DaemonSet and Deployment."""
        for manifest in self.manifests:
            if manifest["kind"] in ("DaemonSet", "Deployment"):
                yield (
                    f"{manifest['kind']}/{manifest['metadata']['name']}",
                    manifest["spec"]["template"]["spec"],
                )

    def agent_container(self) -> Manifest:
        """The agent container: of the workload, or of the sidecar snippet."""
        specs = list(self.pod_specs())
        if specs:
            assert len(specs) == 1, specs
            containers = specs[0][1]["containers"]
        else:
            containers = sidecar_snippet(self)[0]
        assert [c["name"] for c in containers] == ["cryptoscope"]
        return containers[0]


def sidecar_snippet(rendered: Rendered) -> tuple[list[Manifest], list[Manifest]]:
    """(containers, volumes) of the sidecar ConfigMap, parsed as YAML."""
    config_map = rendered.one("ConfigMap", f"{FULLNAME}-sidecar")
    return yaml.safe_load(config_map["data"]["container.yaml"]), yaml.safe_load(
        config_map["data"]["volumes.yaml"]
    )


def render_text(values: Mapping[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    return run_helm(*template_command(), values=values)


@functools.cache
def _render_cached(values_json: str) -> Rendered:
    completed = render_text(json.loads(values_json))
    assert completed.returncode == 0, completed.stderr
    manifests = tuple(doc for doc in yaml.safe_load_all(completed.stdout) if doc)
    return Rendered(manifests)


def render(values: Mapping[str, Any] | None = None) -> Rendered:
    """Render the chart with these values (cached per process: helm is the slow part)."""
    return _render_cached(json.dumps(values or {}, sort_keys=True))


def chart_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def chart_schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CHART / "values.schema.json").read_text())
    return loaded
