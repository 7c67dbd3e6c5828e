"""Error texts the agent stores or logs never carry the input that caused them (canary tests).

Each failure below quotes a canary value in its exception text, as real
libraries do (PyYAML prints the offending line, ``int()`` repeats the value,
a library may append the document on the next line). The canary must appear
nowhere in the database files (main, -wal, -shm) nor in the captured logs,
while the stored reason still says what went wrong.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from agent.config import load_settings
from agent.discovery import KubeReader
from agent.errors import MAX_LENGTH, describe_error, safe_text
from agent.runner import Agent, CycleContext, NamedInspector
from agent.store import Store
from agent.tls.model import EndpointScan, ScanOptions, Target
from inspector.lab.kube_api import KubeAPIServer

pytestmark = pytest.mark.timeout(120)

CANARY = "CANARY-hunter2-Zq81x"
TOKEN_CANARY = "CANARYzq81x7f3a9c2e5d1b4a60e8"  # unquoted, key-like


def settings(**overrides: str) -> Any:
    flags = {"mode": "daemonset", "node_name": "node-a", "ingress": "false", **overrides}
    return load_settings(flags, environ={})


def raised(action: Any) -> BaseException:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the exception is the subject
        return exc
    raise AssertionError("no exception")


# --------------------------------------------------------------------------- the function


def test_yaml_errors_keep_type_and_position_not_the_line() -> None:
    document = f"tenantId: abc\nobjects:\n    key: {CANARY}: extra\n"
    exc = raised(lambda: yaml.safe_load(document))
    assert CANARY in str(exc)  # PyYAML quotes the offending line
    column = document.splitlines()[2].index(": extra") + 1  # the second ':' on line 3
    assert describe_error(exc) == (
        f"ScannerError at line 3, column {column}: mapping values are not allowed here"
    )


def test_json_int_and_os_errors_keep_what_went_wrong() -> None:
    exc = raised(lambda: json.loads(f'{{"password": "{CANARY}" "more": 1}}'))
    assert describe_error(exc).startswith("JSONDecodeError at line 1, column ")
    assert "Expecting ',' delimiter" in describe_error(exc)  # a one-character quote stays
    exc = raised(lambda: int(CANARY))
    assert CANARY in str(exc)
    assert describe_error(exc) == "ValueError: invalid literal for int() with base 10: '…'"
    exc = raised(lambda: open("/nonexistent-cryptoscope/secret"))  # noqa: SIM115 - the error is wanted
    assert describe_error(exc) == (
        "FileNotFoundError: No such file or directory: /nonexistent-cryptoscope/secret"
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (f"cannot load key\n{CANARY}", "cannot load key"),  # a document on the next lines
        (f"bad value b'{CANARY}' in field", "bad value '…' in field"),
        (f'bad value "{CANARY} and the rest', "bad value '…'"),  # a quote left open
        (f"token {TOKEN_CANARY} rejected; can't use it", "token … rejected; can't use it"),
        (f"tab\there\x1b[31m and {CANARY!r}", "tab here [31m and '…'"),
    ],
)
def test_texts_lose_quoted_input_later_lines_tokens_and_control_characters(
    message: str, expected: str
) -> None:
    assert safe_text(message) == expected
    assert describe_error(ValueError(message)) == f"ValueError: {expected}"


def test_texts_are_bounded() -> None:
    text = safe_text("word " * 500)
    assert len(text) == MAX_LENGTH and text.endswith("…")


def test_an_exception_that_cannot_be_printed_still_gets_its_type() -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError(CANARY)

    assert describe_error(Unprintable()) == "Unprintable: (no text)"


# --------------------------------------------------------------------------- through the agent


def database_bytes(db: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(db.parent.glob(db.name + "*")))


def assert_no_canary(db: Path, caplog: pytest.LogCaptureFixture) -> None:
    for canary in (CANARY, TOKEN_CANARY):
        assert canary.encode() not in database_bytes(db)
        assert canary not in caplog.text
        for record in caplog.records:
            assert canary not in record.getMessage()


def test_inspector_failures_reading_mounted_secrets_and_manifests_store_no_canary(
    kube_api: KubeAPIServer,
    api_client: kubernetes.client.ApiClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    mount = tmp_path / "pods" / "uid-1" / "volumes" / "secrets-store"
    mount.mkdir(parents=True)
    (mount / "settings.yaml").write_text(f"user: app\nport: 5432\npassword: {CANARY}: x\n")
    column = len(f"password: {CANARY}") + 1  # where the second ':' makes it invalid
    (mount / "manifest.json").write_text(json.dumps({"spec": {"replicas": CANARY}}))
    (mount / "tls.key").write_text(f"-----BEGIN PRIVATE KEY-----\n{TOKEN_CANARY}\n")

    def mounted_yaml(context: CycleContext) -> None:
        yaml.safe_load((mount / "settings.yaml").read_text())

    def manifest(context: CycleContext) -> None:
        int(json.loads((mount / "manifest.json").read_text())["spec"]["replicas"])

    def key_file(context: CycleContext) -> None:
        body = (mount / "tls.key").read_text()
        raise ValueError(f"could not deserialize key data: {body.splitlines()[1]}\n{body}")

    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        agent = Agent(
            settings(),
            store=store,
            reader=KubeReader(api_client),
            inspectors=[
                NamedInspector("mounted_yaml", mounted_yaml),
                NamedInspector("manifest", manifest),
                NamedInspector("key_file", key_file),
            ],
        )
        report = agent.run_cycle()
        assert_no_canary(db, caplog)  # the write-ahead log while the store is open
    assert report.status == "partial"
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT stage, message FROM errors ORDER BY id").fetchall()
    assert stored == [
        (
            "inspector:mounted_yaml",
            f"inspector mounted_yaml failed: ScannerError at line 3, column {column}:"
            " mapping values are not allowed here",
        ),
        (
            "inspector:manifest",
            "inspector manifest failed: ValueError: invalid literal for int() with base 10: '…'",
        ),
        (
            "inspector:key_file",
            "inspector key_file failed: ValueError: could not deserialize key data: …",
        ),
    ]
    assert_no_canary(db, caplog)
    assert f"inspector mounted_yaml failed: ScannerError at line 3, column {column}" in caplog.text


def test_a_malformed_pod_is_skipped_with_a_reason_without_its_value(
    kube_api: KubeAPIServer,
    api_client: kubernetes.client.ApiClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    kube_api.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "odd-0", "namespace": "shop"},
            "spec": {
                "nodeName": "node-a",
                "containers": [{"name": "app", "image": "x", "ports": [{"containerPort": CANARY}]}],
            },
            "status": {"phase": "Running", "podIP": "127.0.0.61"},
        }
    )
    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        agent = Agent(settings(), store=store, reader=KubeReader(api_client), inspectors=[])
        report = agent.run_cycle()
        assert_no_canary(db, caplog)
    assert_no_canary(db, caplog)
    with sqlite3.connect(db) as conn:
        run = conn.execute("SELECT status, error FROM runs").fetchone()
        stored = conn.execute("SELECT stage, message FROM errors").fetchall()
    # the pod is left out with the reason; the cycle goes on (partial: something was skipped)
    assert report.status == "partial" and run[0] == "partial"
    assert stored == [
        (
            "discovery",
            "pod shop/odd-0 skipped: malformed manifest "
            "(ValueError: invalid literal for int() with base 10: '…')",
        )
    ]


def test_a_prober_failure_is_recorded_per_endpoint_without_its_value(
    kube_api: KubeAPIServer,
    api_client: kubernetes.client.ApiClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def failing(targets: Sequence[Target], options: ScanOptions) -> Sequence[EndpointScan]:
        raise ValueError(f"unexpected record from peer: {CANARY!r}\n{TOKEN_CANARY}")

    db = tmp_path / "agent.db"
    with Store.open(db) as store:
        agent = Agent(
            settings(egress_targets="127.0.0.1:9/pay.example,127.0.0.1:10"),
            store=store,
            reader=KubeReader(api_client),
            prober=failing,
            inspectors=[],
        )
        report = agent.run_cycle()
        assert_no_canary(db, caplog)
    assert report.status == "partial"  # two endpoints without a result
    with sqlite3.connect(db) as conn:
        stored = conn.execute(
            "SELECT stage, subject_key, message FROM errors ORDER BY id"
        ).fetchall()
    assert [(stage, message) for stage, _, message in stored] == [
        ("probe", "prober failed: ValueError: unexpected record from peer: '…'")
    ] * 2
    assert all(subject for _, subject, _ in stored)
    assert_no_canary(db, caplog)
