"""HepTrigger: exact serialization, and run() on a running event loop as the triggerer drives it.

The comms harness tests (Airflow 3.3+) are in test_trigger_comms.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hep_testing import events_of, export_job

from airflow_provider_hep.exceptions import (
    HepApiError,
    HepAuthError,
    HepConfigError,
    HepError,
    HepTransportError,
)
from airflow_provider_hep.hooks import hep_async
from airflow_provider_hep.retry import Failure
from airflow_provider_hep.sealing import unseal
from airflow_provider_hep.triggers.hep import (
    MAX_EVENT_BODY_BYTES,
    HepTrigger,
    error_from_event,
    error_to_event,
)

CONN_ENV = "AIRFLOW_CONN_SAP_HEP_DEFAULT"
HOLD = "hold-the-supervisor-lock"
EXPORT_DONE = {"path": "status", "equals": "done", "fail_on": ["failed"]}


def first_event(trigger):
    """Iterate the trigger's async generator inside a running loop, as the triggerer does."""
    (payload,) = asyncio.run(events_of(trigger))
    return payload


def test_serialize_returns_the_class_path_and_plain_values_only():
    trigger = HepTrigger(
        endpoint="exports/EXP-1",
        method="get",
        query={"$top": 1},
        json={"a": [1, 2]},
        data=None,
        headers={"X-Request-Id": "r-1"},
        hep_conn_id="hep_prod",
        poll=True,
        check={"path": "status", "equals": "done"},
        poke_interval=5,
        poke_on_404=True,
        max_retries=3,
    )
    assert trigger.serialize() == (
        "airflow_provider_hep.triggers.hep.HepTrigger",
        {
            "endpoint": "exports/EXP-1",
            "method": "GET",
            "query": {"$top": 1},
            "json": {"a": [1, 2]},
            "data": None,
            "headers": {"X-Request-Id": "r-1"},
            "hep_conn_id": "hep_prod",
            "poll": True,
            "check": {"path": "status", "in": ["done"]},
            "poke_interval": 5.0,
            "poke_on_404": True,
            "max_retries": 3,
        },
    )


def test_serialize_round_trips_exactly_through_json():
    classpath, kwargs = HepTrigger(endpoint="patients", poll=True, check=EXPORT_DONE).serialize()
    again = HepTrigger(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == (classpath, kwargs)


def test_a_check_without_poll_is_refused():
    with pytest.raises(HepConfigError, match="check: applies to polls only; pass poll=True"):
        HepTrigger(endpoint="exports/1", check=EXPORT_DONE)


def test_a_poll_waits_until_the_check_passes_with_a_fresh_token_per_poll(sandbox, masking):
    sb = sandbox()
    job = export_job(sb, ready_after=2)
    trigger = HepTrigger(
        endpoint=f"exports/{job}", poll=True, check=EXPORT_DONE, poke_interval=0.01
    )
    assert first_event(trigger) == {"status": "success", "value": "done", "polls": 3}
    stats = sb.stats
    assert stats["tokens_issued"] == stats["api_calls_ok"] == 3
    assert stats["calls_per_token"]["tokens_reused"] == 0
    assert json.dumps(trigger.serialize()).count(sb.client_secret) == 0


def test_the_poll_event_carries_the_verdict_and_checked_value_never_the_body(sandbox):
    sb = sandbox()
    trigger = HepTrigger(
        endpoint="patients/PAT-0000001", poll=True, check={"path": "id", "equals": "PAT-0000001"}
    )
    event = first_event(trigger)
    assert event == {"status": "success", "value": "PAT-0000001", "polls": 1}
    record = sb.records("patients")[0]
    assert record["lastName"] not in json.dumps(event)


def test_a_poll_without_a_check_succeeds_on_the_first_2xx(sandbox):
    sandbox()
    event = first_event(HepTrigger(endpoint="patients", poll=True))
    assert event == {"status": "success", "value": None, "polls": 1}


def test_a_fail_on_value_ends_the_poll_with_check_failed(sandbox):
    sb = sandbox()
    job = export_job(sb)
    check = {"path": "status", "equals": "done", "fail_on": ["running"]}
    event = first_event(HepTrigger(endpoint=f"exports/{job}", poll=True, check=check))
    assert event == {"status": "check_failed", "value": "running", "polls": 1}


def test_a_404_ends_the_poll_with_the_api_error(sandbox):
    sandbox()
    event = first_event(HepTrigger(endpoint="exports/EXP-404", poll=True, check=EXPORT_DONE))
    assert event["status"] == "error"
    error = error_from_event(event["error"])
    assert isinstance(error, HepApiError)
    assert (error.status, error.path) == (404, "/api/v1/exports/EXP-404")


def test_poke_on_404_keeps_polling_until_cancelled(sandbox):
    sb = sandbox()
    trigger = HepTrigger(
        endpoint="exports/EXP-404", poll=True, poke_on_404=True, poke_interval=0.05
    )

    async def wait_a_while():
        events = trigger.run()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(events), timeout=0.6)
        await events.aclose()

    asyncio.run(wait_a_while())
    assert sb.stats["requests_by_path"]["/api/v1/exports/EXP-404"] >= 3


def test_a_call_returns_the_response_with_its_body_sealed(sandbox):
    sb = sandbox()
    event = first_event(HepTrigger(endpoint="patients/PAT-0000002", query={"x": "PII-123"}))
    assert event["status"] == "success"
    response = event["response"]
    assert response["status_code"] == 200
    body = json.loads(unseal(response["sealed_text"]))
    assert body["id"] == "PAT-0000002"
    assert body["lastName"] not in json.dumps(event)  # events are stored in the DB: sealed
    assert response["url"] == f"{sb.base_url}/patients/PAT-0000002"
    assert response["headers"]["content-type"].startswith("application/json")


def test_a_call_answer_larger_than_an_event_may_carry_is_refused(sandbox):
    sandbox(records=6000, page_size=6000)
    event = first_event(HepTrigger(endpoint="patients", query={"$top": 6000}))
    assert event["status"] == "error"
    assert event["error"]["type"] == "too_large"
    assert event["error"]["size"] > MAX_EVENT_BODY_BYTES


def test_a_429_is_retried_in_the_triggerer(sandbox, monkeypatch):
    sb = sandbox(faults="429:first=1:retry_after=1")
    waits = []

    async def record(delay):
        waits.append(delay)

    monkeypatch.setattr(hep_async, "_sleep", record)
    event = first_event(HepTrigger(endpoint="patients/PAT-0000001"))
    assert event["status"] == "success"
    assert waits == [1.0]
    assert sb.stats["faults_injected"] == {"429": 1}


def test_invalid_client_comes_back_as_the_same_auth_error(sandbox, monkeypatch):
    sb = sandbox()
    conn = json.loads(sb.conn_json())
    conn["password"] = "not-the-secret"
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    event = first_event(HepTrigger(endpoint="patients"))
    error = error_from_event(event["error"])
    assert isinstance(error, HepAuthError)
    assert (error.error, error.status) == ("invalid_client", 401)
    assert sb.stats["token_requests"] == 1


def test_many_triggers_share_one_loop_and_each_call_gets_its_own_token(sandbox):
    sb = sandbox()
    jobs = [export_job(sb, ready_after=1) for _ in range(4)]
    triggers = [
        HepTrigger(endpoint=f"exports/{job}", poll=True, check=EXPORT_DONE, poke_interval=0.01)
        for job in jobs
    ]

    async def all_of_them():
        return await asyncio.gather(*(events_of(t) for t in triggers))

    results = asyncio.run(all_of_them())
    assert results == [[{"status": "success", "value": "done", "polls": 2}]] * 4
    assert sb.stats["calls_per_token"] == {"max": 1, "tokens_used": 8, "tokens_reused": 0}


@pytest.mark.parametrize(
    "error",
    [
        HepApiError(403, "GET", "/api/v1/patients", '{"error":"forbidden"}'),
        HepAuthError("token endpoint refused", error="invalid_client", description="d", status=401),
        HepAuthError("token endpoint unreachable"),
        HepTransportError("GET /x failed after 6 attempt(s): timed out", Failure.READ_TIMEOUT),
        HepTransportError("no failure kind"),
        HepConfigError("extra", "unknown setting(s) x"),
        HepError("something else"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_survive_the_event_with_type_message_and_attributes(error):
    again = error_from_event(json.loads(json.dumps(error_to_event(error))))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)
