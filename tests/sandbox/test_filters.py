"""``$filter`` supports comparisons, and/or/not, parentheses, and rejects bad literals clearly."""

from __future__ import annotations

import itertools
import time

import pytest

from airflow_provider_hep.sandbox.odata_filter import FilterError, compile_filter

FIELDS = frozenset({"id", "lastModified", "status"})
T = "2026-01-01T12:00:00Z"


@pytest.fixture(scope="module")
def module_sandbox():
    from airflow_provider_hep.sandbox import HepSandbox

    with HepSandbox(records=500, page_size=1000) as sb:
        yield sb


@pytest.fixture
def query(module_sandbox, session_for):
    session = session_for(module_sandbox)

    def run(expr, collection="patients"):
        answer = session.get(
            f"{module_sandbox.base_url}/{collection}", params={"$filter": expr}, timeout=10
        )
        return answer

    return run


@pytest.fixture(scope="module")
def records(module_sandbox):
    return module_sandbox.records("patients")


def ids_of(answer):
    assert answer.status_code == 200, answer.text
    return sorted(r["id"] for r in answer.json()["value"])


@pytest.fixture(scope="module")
def pivot(records):
    """Return a lastModified value that several records share."""
    values = [r["lastModified"] for r in records]
    return next(v for v in sorted(values) if values.count(v) > 1 and v > T)


@pytest.mark.parametrize(
    ("op", "check"),
    [
        ("eq", lambda v, p: v == p),
        ("ne", lambda v, p: v != p),
        ("gt", lambda v, p: v > p),
        ("ge", lambda v, p: v >= p),
        ("lt", lambda v, p: v < p),
        ("le", lambda v, p: v <= p),
    ],
)
def test_each_comparison_operator_on_last_modified_selects_the_right_records(
    query, records, pivot, op, check
):
    expected = sorted(r["id"] for r in records if check(r["lastModified"], pivot))

    got = ids_of(query(f"lastModified {op} {pivot}"))

    assert got == expected
    assert got


def test_id_comparisons_use_quoted_strings(query, records):
    answer = query("id ge 'PAT-0000100' and id lt 'PAT-0000110'")

    assert ids_of(answer) == [f"PAT-{n:07d}" for n in range(100, 110)]


def test_and_binds_tighter_than_or(query, records):
    expr = "id eq 'PAT-0000001' or id eq 'PAT-0000002' and lastModified lt 2000-01-01T00:00:00Z"

    assert ids_of(query(expr)) == ["PAT-0000001"]


def test_parentheses_and_not_change_the_grouping(query, records):
    expr = "(id eq 'PAT-0000001' or id eq 'PAT-0000002') and not (id eq 'PAT-0000002')"

    assert ids_of(query(expr)) == ["PAT-0000001"]


def test_other_string_fields_can_be_filtered(query, records):
    name = records[0]["lastName"]

    got = ids_of(query(f"lastName eq '{name}'"))

    assert got == sorted(r["id"] for r in records if r["lastName"] == name)


def test_quotes_in_string_literals_are_escaped_by_doubling(query):
    assert ids_of(query("lastName eq 'O''Brien'")) == []


def test_fractional_seconds_and_offsets_are_accepted(query, records):
    expr = "lastModified ge 2026-01-01T13:00:00.000+01:00 and lastModified lt 2026-01-01T13:00:00Z"

    expected = [
        r["id"]
        for r in records
        if "2026-01-01T12:00:00Z" <= r["lastModified"] < "2026-01-01T13:00:00Z"
    ]

    assert ids_of(query(expr)) == sorted(expected)


def test_the_keyset_pattern_resumes_after_a_tie(query, records):
    by_key = sorted(records, key=lambda r: (r["lastModified"], r["id"]))
    ties = [(a, b) for a, b in itertools.pairwise(by_key) if a["lastModified"] == b["lastModified"]]
    first, second = ties[0]
    lm, rid = first["lastModified"], first["id"]
    expr = (
        "lastModified ge 2026-01-01T00:00:00Z and lastModified lt 2026-01-02T00:00:00Z and "
        f"(lastModified gt {lm} or (lastModified eq {lm} and id gt '{rid}'))"
    )

    answer = query(expr)

    got = [r["id"] for r in answer.json()["value"]]
    assert got[0] == second["id"]
    assert got == [r["id"] for r in by_key if (r["lastModified"], r["id"]) > (lm, rid)]


def test_a_space_instead_of_t_in_a_datetime_is_a_400_naming_the_literal(query):
    answer = query("lastModified ge 2026-01-01 00:00:00+00:00")

    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "BadRequest"
    assert "2026-01-01 00:00:00+00:00" in error["message"]


def test_an_unencoded_plus_in_the_url_arrives_as_a_space_and_is_rejected(
    module_sandbox, session_for
):
    session = session_for(module_sandbox)
    url = (
        f"{module_sandbox.base_url}/patients?$filter=lastModified%20ge%202026-01-01T00:00:00+00:00"
    )

    answer = session.get(url, timeout=10)

    assert answer.status_code == 400
    assert "2026-01-01T00:00:00 00:00" in answer.json()["error"]["message"]


@pytest.mark.parametrize(
    "expr",
    [
        "nosuchfield eq 'x'",
        "lastModified ge '2026-01-01T00:00:00Z'",
        "id eq 2026-01-01T00:00:00Z",
        "id eq 'unterminated",
        "(id eq 'a'",
        "id like 'a'",
        "lastModified ge 2026-01-01T00:00:00",
        "id eq 'a' and",
    ],
)
def test_bad_filters_get_400_bad_request(query, expr):
    answer = query(expr)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def test_the_interval_is_derived_from_and_or_structure():
    keyset = compile_filter(
        "lastModified ge 2026-01-01T00:00:00Z and lastModified lt 2026-01-02T00:00:00Z"
        " and (lastModified gt 2026-01-01T05:00:00Z"
        " or (lastModified eq 2026-01-01T05:00:00Z and id gt 'PAT-1'))",
        FIELDS,
    )
    exact = compile_filter("lastModified ge 2026-01-01T00:00:00.5Z", FIELDS)
    hull = compile_filter("lastModified lt 2026-01-01T00:00:00Z or status eq 'a'", FIELDS)

    assert (keyset.lo, keyset.hi, keyset.exact) == (1767243600, 1767312000, False)
    assert (exact.lo, exact.hi, exact.exact) == (1767225601, None, True)
    assert (hull.lo, hull.hi) == (None, None)


def test_filter_errors_are_value_errors():
    with pytest.raises(FilterError, match="malformed literal"):
        compile_filter("lastModified eq 5", FIELDS)


def test_keyset_pages_over_a_million_records_cost_log_n_plus_page(hep_sandbox_factory, session_for):
    sb = hep_sandbox_factory(records=1_000_000)
    session = session_for(sb)
    session.get(f"{sb.base_url}/patients/PAT-0000001", timeout=120)
    lm = "2026-01-01T23:59:00Z"
    expr = (
        "lastModified ge 2026-01-01T00:00:00Z and lastModified lt 2026-01-02T00:00:00Z and "
        f"(lastModified gt {lm} or (lastModified eq {lm} and id gt 'PAT-0500000'))"
    )

    began = time.perf_counter()
    answers = [
        session.get(f"{sb.base_url}/patients", params={"$filter": expr}, timeout=10)
        for _ in range(20)
    ]
    per_request = (time.perf_counter() - began) / 20

    assert all(a.status_code == 200 for a in answers)
    assert len(answers[0].json()["value"]) == 100
    assert per_request < 0.05, f"{per_request * 1000:.1f} ms per keyset page"
