"""The query layer without the UI: filter language, paging, sorting, the overview, details and diffs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.tui.database import connect_readonly
from inspector.tui.filtering import Filterable, FilterError, compile_filter
from inspector.tui.queries import (
    ENDPOINTS,
    FINDINGS,
    NAMESPACES,
    OPEN_OR_WAIVED,
    RUNS,
    WORKLOADS,
    count_rows,
    endpoint_detail,
    fetch_page,
    iter_rows,
    overview,
    requirement_sort_key,
    run_diff,
    secrets_query,
    split_requirements,
    strength_of_name,
)
from tests.tui.factory import NOW

COLUMNS = [
    Filterable("ns", "ns"),
    Filterable("port", "port", numeric=True, searchable=False),
    Filterable("pod", "pod"),
]


@pytest.fixture
def conn(cluster_db: Path) -> Iterator[sqlite3.Connection]:
    connection = connect_readonly(cluster_db)
    yield connection
    connection.close()


def rows(conn: sqlite3.Connection, text: str) -> list[tuple[object, ...]]:
    page = fetch_page(
        conn, ENDPOINTS, filt=compile_filter(text, ENDPOINTS.filterables()), limit=1000
    )
    assert page.total == len(page.rows)
    return list(page.rows)


def test_filter_compiles_to_parameters_never_to_sql_text() -> None:
    compiled = compile_filter("ns:x);DROP port>1024", COLUMNS)
    assert "DROP" not in compiled.where and "1024" not in compiled.where
    assert compiled.params == ("%x);DROP%", 1024)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope:1", "unknown column 'nope'"),
        ("port>abc", "port compares numbers"),
        ("ns:", "ns: needs a value"),
        ('"unbalanced', "bad quoting"),
    ],
)
def test_filter_errors_say_why(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_filter(text, COLUMNS)


def test_bare_words_with_colons_are_searched_as_text() -> None:
    compiled = compile_filter("fd00::1", COLUMNS)
    assert compiled.params == ("%fd00::1%", "%fd00::1%")


def test_filters_against_the_database(conn: sqlite3.Connection) -> None:
    assert len(rows(conn, "")) == 9
    assert {r[0] for r in rows(conn, "payments")} == {"payments"}
    assert len(rows(conn, "transport:plaintext")) == 3
    assert len(rows(conn, "!transport:plaintext")) == 6
    assert [r[4] for r in rows(conn, "port>9000")] == [9100, 9090]
    assert [r[2] for r in rows(conn, "ns=shop port=443")] == ["web-6b8-r3t4y", "web-6b8-q1w2e"]
    assert [r[2] for r in rows(conn, "pod:web-*-q1*")] == ["web-6b8-q1w2e"]
    assert len(rows(conn, "grade=F")) == 2
    assert len(rows(conn, "expiry<2026-12-31")) == 4
    assert len(rows(conn, "strength=0")) == 2  # RC4 accepted
    assert (
        len(rows(conn, "!expiry<2026-12-31")) == 5
    )  # NULL (plaintext) expiry stays in the inversion


def test_paging_is_stable_and_complete(conn: sqlite3.Connection) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = fetch_page(conn, ENDPOINTS, offset=offset, limit=4, sort="port", descending=True)
        seen.extend(page.keys)
        offset += len(page.rows)
        if offset >= page.total:
            break
    assert len(seen) == len(set(seen)) == count_rows(conn, ENDPOINTS) == 9


def test_every_list_query_runs_and_saves(conn: sqlite3.Connection) -> None:
    for query in (NAMESPACES, WORKLOADS, ENDPOINTS, FINDINGS, RUNS):
        page = fetch_page(conn, query)
        assert page.total == len(page.rows) > 0, query.name
        assert len(list(iter_rows(conn, query))) == page.total
        for column in query.columns:
            if column.sortable:
                assert fetch_page(conn, query, sort=column.key, descending=True).total == page.total


def test_findings_scope_and_waivers(conn: sqlite3.Connection) -> None:
    open_or_waived = fetch_page(conn, FINDINGS, scope=(OPEN_OR_WAIVED,))
    everything = fetch_page(conn, FINDINGS)
    assert (open_or_waived.total, everything.total) == (7, 8)
    status = {r[4]: r[2] for r in open_or_waived.rows}
    assert status["monitoring/DaemonSet/node-exporter/node-exporter-abc@10.3.0.5:9100"] == "waived"
    by_requirement = fetch_page(
        conn, FINDINGS, filt=compile_filter("req:12.3.3", FINDINGS.filterables())
    )
    assert [r[3] for r in by_requirement.rows] == ["P-WEAK-SUITE"]


def test_overview_counts(conn: sqlite3.Connection) -> None:
    data = overview(conn, NOW)
    assert data.endpoints_total == 9
    assert dict(data.by_transport) == {"tls": 6, "plaintext-http": 3}
    assert dict(data.by_grade) == {"A": 5, "B": 0, "C": 1, "D": 1, "F": 2}
    assert ("12.3.3", "high", 1) in data.findings_by_requirement
    assert [e[1] for e in data.expiring] == [
        "CN=legacy-gw.payments.svc",
        "CN=ledger-db.payments.svc",
        "CN=web.shop.svc",
    ]
    assert data.stale_secrets is None  # no CSI data in this fixture
    assert [r[0] for r in data.last_runs] == ["node-a", "node-b"]
    assert data.fresh and data.age_seconds == 29 * 60


def test_endpoint_detail_and_diff(conn: sqlite3.Connection) -> None:
    ledger = conn.execute("SELECT id FROM endpoints WHERE pod = 'ledger-db-0'").fetchone()[0]
    detail = endpoint_detail(conn, ledger)
    assert detail is not None
    tls12 = [s for s in detail.suites if s.protocol == "TLSv1.2"]
    assert [s.rank for s in tls12] == [1, 2, 3, 4, 5]  # server preference order
    assert [c.position for c in detail.chain] == [0, 1]
    assert {f.rule_id for f in detail.findings} == {"C-EXPIRY", "P-WEAK-SUITE"}
    assert endpoint_detail(conn, 999_999) is None
    diff = run_diff(conn, 2, 1)
    assert diff is not None and diff.older["id"] == 1
    assert run_diff(conn, 1, 42) is None


def test_helpers() -> None:
    assert split_requirements("4.2.1, 12.3.3") == ["4.2.1", "12.3.3"]
    assert split_requirements('["3.6.1"]') == ["3.6.1"]
    assert sorted(["12.3.3", "4.2.1.1", "4.2.1", "A1"], key=requirement_sort_key) == [
        "4.2.1",
        "4.2.1.1",
        "12.3.3",
        "A1",
    ]
    assert strength_of_name("TLS_RSA_WITH_RC4_128_SHA") == "insecure"
    assert strength_of_name("TLS_AES_128_GCM_SHA256") == "strong"
    assert strength_of_name("NOT_A_SUITE") == ""


def test_secrets_query_is_none_without_csi_rows(conn: sqlite3.Connection) -> None:
    assert secrets_query(conn) is None


@pytest.mark.parametrize("synthetic", [False, True], ids=["fixture", "synthetic"])
def test_grade_shortcut_selects_what_the_grade_expression_selects(
    conn: sqlite3.Connection, tmp_path: Path, synthetic: bool
) -> None:
    """`grade=X` runs as indexed subqueries; the rows must be those whose computed grade is X."""
    import dataclasses

    if synthetic:
        from inspector.lab.synthetic import generate

        conn = connect_readonly(generate(tmp_path / "grades.db", endpoints=200, runs=2).path)
    fast = ENDPOINTS.filterables()
    slow = [dataclasses.replace(f, equals=()) for f in fast]
    assert any(f.equals for f in fast)
    grades_seen = set()
    for letter in "ABCDFabcdf":
        for text in (f"grade={letter}", f"grade:{letter}", f"grade!={letter}", f"!grade={letter}"):
            expected = count_rows(conn, ENDPOINTS, filt=compile_filter(text, slow))
            shortcut = compile_filter(text, fast)
            assert "NOT IN" in shortcut.where or " IN (" in shortcut.where
            assert count_rows(conn, ENDPOINTS, filt=shortcut) == expected, text
            keys = fetch_page(conn, ENDPOINTS, filt=shortcut, limit=500).keys
            assert (
                keys == fetch_page(conn, ENDPOINTS, filt=compile_filter(text, slow), limit=500).keys
            )
            if text.startswith("grade=") and expected:
                grades_seen.add(letter.upper())
    assert len(grades_seen) >= (4 if synthetic else 3)  # the data really has several grades
    if synthetic:
        conn.close()
