"""The declarative response check a deferrable sensor carries to the triggerer."""

from __future__ import annotations

import json

import pytest

from airflow_provider_hep.checks import JsonCheck, Verdict, parse_path
from airflow_provider_hep.exceptions import HepConfigError


def test_equals_passes_when_the_value_at_the_path_matches():
    check = JsonCheck.from_spec({"path": "status", "equals": "done"})
    result = check.evaluate({"id": "EXP-1", "status": "done"})
    assert (result.verdict, result.value, result.found) == (Verdict.PASSED, "done", True)


def test_a_value_not_yet_accepted_is_pending_and_reported():
    check = JsonCheck.from_spec({"path": "status", "equals": "done"})
    result = check.evaluate({"status": "running"})
    assert (result.verdict, result.value, result.found) == (Verdict.PENDING, "running", True)


def test_in_accepts_any_listed_value():
    check = JsonCheck.from_spec({"path": "status", "in": ["done", "partial"]})
    assert check.evaluate({"status": "partial"}).verdict is Verdict.PASSED
    assert check.evaluate({"status": "queued"}).verdict is Verdict.PENDING


def test_a_fail_on_value_fails_at_once():
    check = JsonCheck.from_spec({"path": "status", "equals": "done", "fail_on": ["failed"]})
    result = check.evaluate({"status": "failed"})
    assert (result.verdict, result.value) == (Verdict.FAILED, "failed")


def test_a_missing_path_is_pending_and_not_found():
    check = JsonCheck.from_spec({"path": "job.state", "equals": "done"})
    for body in ({"job": {}}, {"job": "text"}, None, "plain text", [1, 2]):
        assert check.evaluate(body) == check.evaluate({}) == check.evaluate({"other": 1})
        assert check.evaluate(body).found is False


@pytest.mark.parametrize("path", ["items[1].status", "items.1.status", "$.items[1].status"])
def test_paths_walk_dicts_by_key_and_lists_by_index(path):
    body = {"items": [{"status": "running"}, {"status": "done"}]}
    assert JsonCheck.from_spec({"path": path, "equals": "done"}).evaluate(body).value == "done"


def test_an_index_past_the_end_is_missing():
    check = JsonCheck.from_spec({"path": "items[5]", "equals": 1})
    assert check.evaluate({"items": [1]}).found is False


def test_an_empty_path_checks_the_whole_body():
    assert (
        JsonCheck.from_spec({"path": "$", "equals": "OK"}).evaluate("OK").verdict is Verdict.PASSED
    )


def test_nested_paths_parse_into_keys_and_indices():
    assert parse_path("$.a.b[0][2].c") == ("a", "b", 0, 2, "c")


def test_true_never_equals_one_but_numbers_compare_by_value():
    check = JsonCheck.from_spec({"path": "n", "equals": 1})
    assert check.evaluate({"n": True}).verdict is Verdict.PENDING
    assert check.evaluate({"n": 1.0}).verdict is Verdict.PASSED
    flag = JsonCheck.from_spec({"path": "ready", "equals": True})
    assert flag.evaluate({"ready": 1}).verdict is Verdict.PENDING
    assert flag.evaluate({"ready": True}).verdict is Verdict.PASSED


def test_structured_values_can_be_expected():
    check = JsonCheck.from_spec({"path": "tags", "equals": ["a", "b"]})
    assert check.evaluate({"tags": ["a", "b"]}).verdict is Verdict.PASSED


def test_the_canonical_spec_is_json_and_round_trips():
    check = JsonCheck.from_spec({"path": "status", "equals": "done", "fail_on": ["failed"]})
    spec = check.to_spec()
    assert spec == {"path": "status", "in": ["done"], "fail_on": ["failed"]}
    assert JsonCheck.from_spec(json.loads(json.dumps(spec))) == check
    assert check.describe() == "status == 'done'"
    assert JsonCheck.from_spec({"path": "s", "in": ["a", "b"]}).describe() == "s in ['a', 'b']"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"path": "status", "equal": "done"}, r"unknown key\(s\) equal; allowed keys are: path"),
        ({"equals": "done"}, 'needs a "path" string'),
        ({"path": "status"}, 'exactly one of "equals"'),
        ({"path": "status", "equals": 1, "in": [1]}, 'exactly one of "equals"'),
        ({"path": "status", "in": "done"}, '"in" must be a list of values'),
        ({"path": "status", "in": []}, '"in" must list at least one'),
        ({"path": "status", "equals": 1, "fail_on": "x"}, '"fail_on" must be a list'),
        ({"path": "a..b", "equals": 1}, "path 'a..b' has an empty step"),
        ({"path": "a[x]", "equals": 1}, "path 'a\\[x\\]' has a malformed index"),
        ("status == done", "must be a dict like"),
    ],
)
def test_a_bad_spec_is_refused_with_the_fix(spec, message):
    with pytest.raises(HepConfigError, match=message) as info:
        JsonCheck.from_spec(spec)
    assert info.value.field == "check"
