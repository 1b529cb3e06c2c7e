"""Fault specs parse strictly, and each injected fault looks like the real failure it models."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_hep.sandbox import Fault, parse_faults

BRIEF_SPEC = (
    "429:every=3:retry_after=1,500:p=0.2,reset:every=5,delay:every=4:seconds=3,malformed:first=1,"
    "token_fail:first=2,revoke:at=10,foreign_next:every=1,modify:every=2:count=3"
)
WINDOW = ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
WINDOW_FILTER = f"lastModified ge {WINDOW[0]} and lastModified lt {WINDOW[1]}"


def test_the_spec_grammar_parses_every_fault_kind():
    faults = parse_faults(BRIEF_SPEC)

    assert [f.kind for f in faults] == [
        "429",
        "500",
        "reset",
        "delay",
        "malformed",
        "token_fail",
        "revoke",
        "foreign_next",
        "modify",
    ]
    assert faults[0] == Fault("429", every=3, retry_after="1")
    assert faults[3].seconds == 3.0
    assert faults[8].count == 3


def test_option_values_may_contain_colons():
    (fault,) = parse_faults("foreign_next:host=https://evil.example.invalid:8443")

    assert fault.host == "https://evil.example.invalid:8443"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("418", "unknown fault '418'"),
        ("429:every=x", "not a number"),
        ("429:sometimes=1", "unknown option 'sometimes'"),
        ("reset:seconds=1", "does not take option 'seconds'"),
        ("429:retry_after=soon", "retry_after must be"),
        ("500:p=2", "p must be within"),
        ("500:every=0", "every must be >= 1"),
    ],
)
def test_bad_specs_raise_value_errors_that_say_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_faults(spec)


def get_n(session, url, n, **kwargs):
    return [session.get(url, timeout=10, **kwargs) for _ in range(n)]


def test_429_every_third_call_carries_retry_after_seconds(hep_sandbox, api):
    hep_sandbox.set_faults("429:every=3:retry_after=1")

    answers = get_n(api, f"{hep_sandbox.base_url}/patients/PAT-0000001", 6)

    assert [a.status_code for a in answers] == [200, 200, 429, 200, 200, 429]
    assert answers[2].headers["Retry-After"] == "1"
    assert answers[2].json()["error"]["code"] == "TooManyRequests"
    assert hep_sandbox.stats["faults_injected"] == {"429": 2}


def test_retry_after_can_be_an_http_date_just_ahead(hep_sandbox, api):
    hep_sandbox.set_faults([Fault("503", first=1, retry_after="date")])

    answer = api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)

    assert answer.status_code == 503
    ahead = parsedate_to_datetime(answer.headers["Retry-After"]).timestamp() - time.time()
    assert 0 < ahead <= 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_answer_json_error_bodies(hep_sandbox, api, status):
    hep_sandbox.set_faults(f"{status}:first=1")

    first, second = get_n(api, f"{hep_sandbox.base_url}/patients/PAT-0000001", 2)

    assert first.status_code == status
    assert "injected" in first.json()["error"]["message"]
    assert second.status_code == 200


def test_status_faults_do_not_consume_single_use_tokens(hep_sandbox_factory, token):
    sb = hep_sandbox_factory(single_use_tokens=True, faults="503:first=1")
    headers = {"Authorization": f"Bearer {token(sb)}"}

    first, second = get_n(requests, f"{sb.base_url}/patients/PAT-0000001", 2, headers=headers)

    assert (first.status_code, second.status_code) == (503, 200)


def test_reset_cuts_the_connection_in_the_middle_of_the_body(hep_sandbox, api):
    hep_sandbox.set_faults("reset:first=1")
    url = f"{hep_sandbox.base_url}/patients"

    with pytest.raises(
        (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
    ):
        api.get(url, timeout=10)
    after = api.get(url, timeout=10)

    assert after.status_code == 200
    assert hep_sandbox.stats["faults_injected"] == {"reset": 1}


def test_delay_slows_the_answer_down(hep_sandbox, api):
    hep_sandbox.set_faults("delay:first=1:seconds=0.4")

    began = time.monotonic()
    answer = api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)

    assert answer.status_code == 200
    assert time.monotonic() - began >= 0.4


def test_a_delayed_write_is_applied_even_though_the_client_timed_out(hep_sandbox, api):
    hep_sandbox.set_faults("delay:method=POST:seconds=1.5")
    url = f"{hep_sandbox.base_url}/messages"

    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post(url, json={"patientId": "PAT-0000001", "text": "maybe"}, timeout=0.5)

    assert [m["text"] for m in hep_sandbox.records("messages")] == ["maybe"]
    assert hep_sandbox.stats["writes_applied"] == 1


def test_malformed_answers_are_200_with_invalid_json(hep_sandbox, api):
    hep_sandbox.set_faults("malformed:first=1")

    answer = api.get(f"{hep_sandbox.base_url}/patients", timeout=10)

    assert answer.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answer.json()


def test_token_fail_answers_503_for_the_first_token_requests(hep_sandbox_factory, token):
    sb = hep_sandbox_factory(faults="token_fail:first=2:retry_after=1")
    data = {"grant_type": "client_credentials"}
    auth = (sb.client_id, sb.client_secret)

    answers = [requests.post(sb.token_url, data=data, auth=auth, timeout=10) for _ in range(3)]

    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json()["error"] == "temporarily_unavailable"
    assert answers[0].headers["Retry-After"] == "1"
    assert sb.stats["token_requests"] == 3
    assert sb.stats["tokens_issued"] == 1


def test_token_fail_status_can_be_overridden(hep_sandbox_factory):
    sb = hep_sandbox_factory(faults="token_fail:first=1:status=500")

    answer = requests.post(sb.token_url, data={"grant_type": "client_credentials"}, timeout=10)

    assert answer.status_code == 500


def test_revoke_invalidates_every_outstanding_token_at_the_given_call(hep_sandbox, api, token):
    hep_sandbox.set_faults("revoke:at=2")
    url = f"{hep_sandbox.base_url}/patients/PAT-0000001"

    first, second, third = get_n(api, url, 3)
    fresh = requests.get(url, headers={"Authorization": f"Bearer {token(hep_sandbox)}"}, timeout=10)

    assert [first.status_code, second.status_code, third.status_code] == [200, 401, 401]
    assert fresh.status_code == 200


@pytest.mark.parametrize("style", ["odata", "odata_v2", "fhir", "link_header"])
def test_foreign_next_points_the_next_link_at_another_host(hep_sandbox, api, style):
    hep_sandbox.set_faults("foreign_next")

    answer = api.get(f"{hep_sandbox.base_url}/patients?_style={style}&_links=relative", timeout=10)

    body = answer.json()
    link = {
        "odata": lambda: body["@odata.nextLink"],
        "odata_v2": lambda: body["d"]["__next"],
        "fhir": lambda: body["link"][1]["url"],
        "link_header": lambda: answer.links["next"]["url"],
    }[style]()
    parts = urlsplit(link)
    assert parts.scheme == "http"
    assert parts.netloc == f"evil.example.invalid:{hep_sandbox.port}"
    assert parts.path == "/api/v1/patients"


def test_foreign_next_host_can_be_chosen(hep_sandbox, api):
    hep_sandbox.set_faults("foreign_next:host=https://other.example.invalid:9443")

    link = api.get(f"{hep_sandbox.base_url}/patients", timeout=10).json()["@odata.nextLink"]

    assert link.startswith("https://other.example.invalid:9443/api/v1/patients?")


def test_path_method_after_and_max_narrow_when_a_fault_fires(hep_sandbox, api):
    hep_sandbox.set_faults("500:path=/appointments:method=GET:after=1:max=2")
    appointments = f"{hep_sandbox.base_url}/appointments/APT-0000001"

    patients = get_n(api, f"{hep_sandbox.base_url}/patients/PAT-0000001", 3)
    answers = get_n(api, appointments, 5)

    assert {a.status_code for a in patients} == {200}
    assert [a.status_code for a in answers] == [200, 500, 500, 200, 200]


def test_probabilistic_faults_are_repeatable_for_a_seed(hep_sandbox_factory, token):
    def pattern(seed):
        sb = hep_sandbox_factory(seed=seed, faults="500:p=0.5")
        headers = {"Authorization": f"Bearer {token(sb)}"}
        url = f"{sb.base_url}/patients/PAT-0000001"
        return [a.status_code for a in get_n(requests, url, 12, headers=headers)]

    first, again = pattern(3), pattern(3)

    assert first == again
    assert {200, 500} == set(first)


def test_faults_spare_health_control_and_token_endpoints(hep_sandbox, token):
    hep_sandbox.set_faults("500")
    origin = hep_sandbox.base_url.removesuffix("/api/v1")

    assert requests.get(f"{origin}/health", timeout=10).status_code == 200
    assert requests.get(f"{origin}/_sandbox/stats", timeout=10).status_code == 200
    assert token(hep_sandbox)


def test_latency_applies_to_token_and_api_calls(hep_sandbox_factory, token):
    sb = hep_sandbox_factory(latency_ms=150)

    began = time.monotonic()
    headers = {"Authorization": f"Bearer {token(sb)}"}
    requests.get(f"{sb.base_url}/patients/PAT-0000001", headers=headers, timeout=10)

    assert time.monotonic() - began >= 0.3


def skip_paging(session, sb):
    """Page the window with client-side $skip/$top offsets."""
    ids, skip = [], 0
    while True:
        params = {"$filter": WINDOW_FILTER, "$skip": skip, "$top": 50}
        page = session.get(f"{sb.base_url}/patients", params=params, timeout=10).json()["value"]
        ids += [r["id"] for r in page]
        if len(page) < 50:
            return ids
        skip += 50


def test_concurrent_modification_makes_skip_paging_lose_unmodified_records(
    hep_sandbox_factory, session_for
):
    sb = hep_sandbox_factory(records=500, page_size=50)
    session = session_for(sb)
    sb.set_faults("modify:every=1:count=3")

    fetched = set(skip_paging(session, sb))

    truth = sb.truth("patients", *WINDOW)
    assert len(truth["modified"]) >= 3 * 9
    assert set(truth["unmodified"]) - fetched, "offset paging should have skipped records"
    assert set(truth["original"]) == set(truth["unmodified"]) | set(truth["modified"])


def test_concurrent_modification_does_not_make_skiptoken_paging_lose_records(
    hep_sandbox_factory, session_for, follow
):
    sb = hep_sandbox_factory(records=500, page_size=50)
    session = session_for(sb)
    sb.set_faults("modify:every=1:count=3")

    records, urls = follow(session, f"{sb.base_url}/patients?$filter={WINDOW_FILTER}")

    truth = sb.truth("patients", *WINDOW)
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    assert set(truth["unmodified"]) <= set(ids)
    assert len(truth["modified"]) >= 3 * (len(urls) - 1)


def test_modified_records_move_to_the_sandbox_clock(hep_sandbox_factory, session_for):
    sb = hep_sandbox_factory(records=100)
    session = session_for(sb)
    sb.set_faults("modify:first=1:count=2")
    sb.advance_clock(-(time.time() - 1767268800))  # 2026-01-01T12:00:00Z

    session.get(f"{sb.base_url}/patients", timeout=10)

    truth = sb.truth("patients", *WINDOW)
    by_id = {r["id"]: r for r in sb.records("patients")}
    assert len(truth["modified"]) == 2
    for rid in truth["modified"]:
        assert by_id[rid]["lastModified"].startswith("2026-01-01T12:00:0")
    assert truth["current"] == truth["original"]


def test_retrying_a_timed_out_write_with_the_same_idempotency_key_does_not_write_twice(
    hep_sandbox, api
):
    hep_sandbox.set_faults("delay:method=POST:first=1:seconds=1")
    url = f"{hep_sandbox.base_url}/messages"
    body, headers = {"patientId": "PAT-0000001", "text": "once"}, {"Idempotency-Key": "k-1"}

    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post(url, json=body, headers=headers, timeout=0.3)
    retry = api.post(url, json=body, headers=headers, timeout=10)

    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(hep_sandbox.records("messages")) == 1
    assert hep_sandbox.stats["writes_applied"] == 1


def test_server_offset_next_links_also_lose_records_under_concurrent_modification(
    hep_sandbox_factory, session_for, follow
):
    sb = hep_sandbox_factory(records=500, page_size=50)
    session = session_for(sb)
    sb.set_faults("modify:every=1:count=3")

    records, _ = follow(session, f"{sb.base_url}/patients?_next=skip&$filter={WINDOW_FILTER}")

    truth = sb.truth("patients", *WINDOW)
    assert set(truth["unmodified"]) - {r["id"] for r in records}
