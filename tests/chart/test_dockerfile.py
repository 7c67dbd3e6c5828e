"""The agent image, linted statically (no container engine here to build it).

Checked: a pinned slim Python 3.11 base, the package installed from the
repository, a non-root user that is the chart's runAsUser, the entrypoint
`cryptoscope agent`, no secret baked in, and a .dockerignore that keeps the
work tree's databases, keys and virtualenvs out of the build context.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import tomllib

from tests.chart.rendering import ROOT, chart_values

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
SECRET_WORDS = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE|CREDENTIAL|CLIENT_ID|TENANT", re.IGNORECASE
)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    parsed = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        parsed.append((keyword.upper(), rest.strip()))
    return parsed


def args_defaults() -> dict[str, str]:
    defaults = {}
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name] = value
    return defaults


def resolve(text: str) -> str:
    for name, value in args_defaults().items():
        text = text.replace("${" + name + "}", value).replace("$" + name, value)
    return text


def test_base_image_is_a_pinned_slim_python_311() -> None:
    bases = [resolve(rest.split()[0]) for keyword, rest in instructions() if keyword == "FROM"]
    assert bases
    for base in bases:
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), (
            f"{base}: pin an exact slim Python 3.11 tag (never latest or a floating 3.11)"
        )


def test_runs_as_the_charts_non_root_user() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users, "no USER: the image would run as root"
    user, _, group = users[-1].partition(":")
    assert user.isdigit() and int(user) >= 1000, (
        "a numeric uid lets runAsNonRoot be verified by the kubelet"
    )
    security = chart_values()["podSecurityContext"]
    assert int(user) == security["runAsUser"]
    assert int(group) == security["runAsGroup"]
    keywords = [keyword for keyword, _ in instructions()]
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN"), (
        "nothing runs as root after USER"
    )


def test_entrypoint_is_cryptoscope_agent() -> None:
    entrypoints = [rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"]
    assert entrypoints, "no ENTRYPOINT"
    assert json.loads(entrypoints[-1]) == ["cryptoscope", "agent"], (
        "exec form, so SIGTERM reaches the agent"
    )
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "cryptoscope" in scripts
    assert not [k for k, _ in instructions() if k == "CMD"], (
        "the chart passes settings by environment, not arguments"
    )


def test_installs_the_package_from_the_repository() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    copied = " ".join(rest for keyword, rest in instructions() if keyword == "COPY")
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    for path in ("pyproject.toml", project["project"]["readme"], *packages):
        assert re.search(rf"(^|\s){re.escape(path)}(\s|$)", copied), f"{path} is not copied"
    runs = " ".join(rest for keyword, rest in instructions() if keyword == "RUN")
    assert "pip wheel" in runs and "pip install /wheels/" in runs
    assert not [rest for keyword, rest in instructions() if keyword == "ADD"], (
        "ADD can fetch URLs: use COPY"
    )
    exposed = [rest for keyword, rest in instructions() if keyword == "EXPOSE"]
    assert exposed == [chart_values()["agent"]["listen"].rsplit(":", 1)[1]]


def ignored_by_docker(path: str, patterns: set[str]) -> bool:
    """Enough of .dockerignore's matching for the patterns this repository uses."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(parts[0], pattern):
            return True
    return False


def test_build_context_keeps_every_tracked_package_file() -> None:
    """No source or package-data file of agent/ or inspector/ is left out of the build context."""
    tracked = subprocess.run(
        ["git", "ls-files", "agent", "inspector", "pyproject.toml", "README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    assert any(path.startswith("agent/") for path in tracked)
    patterns = dockerignore_patterns()
    dropped = [path for path in tracked if ignored_by_docker(path, patterns)]
    assert not dropped, f".dockerignore drops files the image needs: {dropped}"
    assert ignored_by_docker("agent/tls/__pycache__/model.cpython-311.pyc", patterns)
    assert ignored_by_docker("cryptoscope.db", patterns) and ignored_by_docker(
        "lab/leaf.pem", patterns
    )


def test_no_secret_in_the_image() -> None:
    for keyword, rest in instructions():
        if keyword in ("ENV", "ARG", "LABEL"):
            assert not SECRET_WORDS.search(rest), (
                f"{keyword} {rest}: secrets come at run time, never in the image"
            )
        if keyword in ("COPY", "ADD"):
            assert not re.search(r"\.(pem|key|pfx|p12|env|db)\b|id_rsa|kubeconfig", rest), (
                f"{keyword} {rest}"
            )


def dockerignore_patterns() -> set[str]:
    return {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }


def test_dockerignore_keeps_the_work_tree_out() -> None:
    ignored = dockerignore_patterns()
    for pattern in (".git", ".venv", ".tools", "*.db", "**/*.pem", "**/*.key", ".env", "tests"):
        assert pattern in ignored, f".dockerignore should exclude {pattern}"
    for needed in ("pyproject.toml", "README.md", "agent", "inspector"):
        assert needed not in ignored, f"{needed} is needed by the build"
