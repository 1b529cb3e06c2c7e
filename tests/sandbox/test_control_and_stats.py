"""Stats, truth, faults and the clock are reachable from Python and over HTTP without a token."""

from __future__ import annotations

import json
import time
from datetime import UTC

import pytest
import requests


def origin_of(sb):
    return sb.base_url.removesuffix("/api/v1")


def test_stats_count_tokens_calls_paths_and_statuses(hep_sandbox, api):
    api.get(f"{hep_sandbox.base_url}/patients", timeout=10)
    api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)
    api.get(f"{hep_sandbox.base_url}/patients/NOPE", timeout=10)

    stats = hep_sandbox.stats

    assert stats["token_requests"] == stats["tokens_issued"] == len(stats["tokens"]) == 1
    assert stats["api_calls"] == stats["api_calls_ok"] == 3
    assert stats["requests_by_path"] == {
        "/oauth/token": 1,
        "/api/v1/patients": 1,
        "/api/v1/patients/PAT-0000001": 1,
        "/api/v1/patients/NOPE": 1,
    }
    assert stats["responses_by_status"] == {"200": 3, "404": 1}
    assert stats["faults_injected"] == {}
    json.dumps(stats)


def test_reset_stats_zeroes_the_counters(hep_sandbox, api):
    api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)

    hep_sandbox.reset_stats()

    assert hep_sandbox.stats["api_calls"] == 0
    assert hep_sandbox.stats["tokens"] == []


def test_control_endpoints_work_over_http_without_a_token(hep_sandbox, api):
    control = f"{origin_of(hep_sandbox)}/_sandbox"
    api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)

    stats = requests.get(f"{control}/stats", timeout=10).json()
    reset = requests.post(f"{control}/reset", timeout=10)
    faults = requests.post(f"{control}/faults", json={"spec": "500:first=1"}, timeout=10)
    failing = api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)
    cleared = requests.post(f"{control}/faults", json={"spec": ""}, timeout=10)
    passing = api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)

    assert stats["api_calls"] == 1
    assert reset.status_code == 200
    assert faults.json() == {"faults": ["500"]}
    assert failing.status_code == 500
    assert cleared.json() == {"faults": []}
    assert passing.status_code == 200
    assert "/_sandbox/stats" not in hep_sandbox.stats["requests_by_path"]


def test_a_bad_fault_spec_over_http_is_a_400(hep_sandbox):
    answer = requests.post(
        f"{origin_of(hep_sandbox)}/_sandbox/faults", json={"spec": "teapot"}, timeout=10
    )

    assert answer.status_code == 400
    assert "unknown fault" in answer.json()["error"]["message"]


def test_truth_over_http_matches_truth_in_python(hep_sandbox):
    params = {"start": "2026-01-01T06:00:00Z", "end": "2026-01-01T07:00:00Z"}

    answer = requests.get(
        f"{origin_of(hep_sandbox)}/_sandbox/truth/appointments", params=params, timeout=10
    )

    assert answer.json() == hep_sandbox.truth("appointments", params["start"], params["end"])
    assert answer.json()["current"]


def test_truth_on_an_unknown_collection_is_a_404(hep_sandbox):
    answer = requests.get(f"{origin_of(hep_sandbox)}/_sandbox/truth/doctors", timeout=10)

    assert answer.status_code == 404


def test_truth_windows_are_half_open_and_accept_datetimes(hep_sandbox):
    from datetime import datetime

    records = hep_sandbox.records("patients")
    pivot = sorted(r["lastModified"] for r in records)[10]
    start = datetime.strptime(pivot, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)

    truth = hep_sandbox.truth("patients", end=start)

    assert truth["current"] == sorted(r["id"] for r in records if r["lastModified"] < pivot)
    assert truth["modified"] == []


def test_truth_works_on_other_datetime_fields(hep_sandbox):
    appointments = hep_sandbox.records("appointments")

    truth = hep_sandbox.truth(
        "appointments", "2026-01-10T00:00:00Z", "2026-01-20T00:00:00Z", "start"
    )

    expected = [a["id"] for a in appointments if "2026-01-10" <= a["start"] < "2026-01-20"]
    assert truth["current"] == expected


def test_the_clock_endpoint_advances_token_expiry(hep_sandbox, api):
    url = f"{hep_sandbox.base_url}/patients/PAT-0000001"

    answer = requests.post(
        f"{origin_of(hep_sandbox)}/_sandbox/clock", json={"advance": 300}, timeout=10
    )

    assert answer.json()["offset"] == 300
    assert api.get(url, timeout=10).status_code == 401


def test_conn_json_describes_an_airflow_connection(hep_sandbox):
    conn = json.loads(hep_sandbox.conn_json(scope="patients.read", timeout=5))

    assert conn == {
        "conn_type": "sap_hep",
        "host": hep_sandbox.base_url,
        "login": "hep-sandbox-client",
        "password": "hep-sandbox-secret",
        "extra": {"auth_url": hep_sandbox.token_url, "scope": "patients.read", "timeout": 5},
    }


def test_hep_connection_sets_the_default_connection_env_var(hep_connection, monkeypatch):
    import os

    assert json.loads(os.environ["AIRFLOW_CONN_SAP_HEP_DEFAULT"])["host"] == hep_connection.base_url


def test_urls_and_port_describe_the_bound_server(hep_sandbox):
    assert hep_sandbox.port > 0
    assert hep_sandbox.base_url == f"http://127.0.0.1:{hep_sandbox.port}/api/v1"
    assert hep_sandbox.token_url == f"http://127.0.0.1:{hep_sandbox.port}/oauth/token"
    assert hep_sandbox.ca_bundle is None


def test_stop_closes_the_port_and_idle_connections(hep_sandbox_factory, session_for):
    sb = hep_sandbox_factory()
    session = session_for(sb)
    session.get(f"{sb.base_url}/health", timeout=10)

    sb.stop()
    time.sleep(0.05)

    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(f"{sb.base_url}/health", timeout=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"records": -1}, "records must be"),
        ({"page_size": 0}, "page_size"),
        ({"client_secret": "abc"}, "client_secret"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start must be"),
        ({"faults": "nonsense"}, "unknown fault"),
    ],
)
def test_invalid_options_raise_value_errors(kwargs, message):
    from airflow_provider_hep.sandbox import HepSandbox

    with pytest.raises(ValueError, match=message):
        HepSandbox(**kwargs)


def test_calls_answered_by_injected_errors_count_as_api_calls_but_not_ok(hep_sandbox, api):
    hep_sandbox.set_faults("429:first=1")

    api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)
    api.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", timeout=10)

    stats = hep_sandbox.stats
    assert (stats["api_calls"], stats["api_calls_ok"], stats["auth_failures"]) == (2, 1, 0)
    assert stats["faults_injected"] == {"429": 1}
