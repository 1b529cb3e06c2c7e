"""HepOperator and HepSensor outside a DAG run, against the HEP sandbox.

Deferrable mode is followed by hand: execute() defers, the trigger runs on an event loop, and
execute_complete() gets the event, so both modes can be compared call for call.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, PokeReturnValue, TaskDeferred

from airflow_provider_hep.exceptions import HepApiError, HepConfigError
from airflow_provider_hep.hooks import hep_async
from airflow_provider_hep.hooks import transport as transport_module
from airflow_provider_hep.operators.hep import MAX_XCOM_BYTES, HepOperator
from airflow_provider_hep.sensors.hep import HepSensor
from airflow_provider_hep.triggers.hep import HepTrigger

CONN_ENV = "AIRFLOW_CONN_SAP_HEP_DEFAULT"
EXPORT_DONE = {"path": "status", "equals": "done", "fail_on": ["failed"]}


@pytest.fixture(autouse=True)
def no_sleeps(monkeypatch):
    async def no_wait(delay):
        return None

    monkeypatch.setattr(transport_module, "_sleep", lambda delay: None)
    monkeypatch.setattr(hep_async, "_sleep", no_wait)


def deferred(task):
    """Run execute() up to its deferral; return the trigger and the resume method."""
    with pytest.raises(TaskDeferred) as info:
        task.execute({})
    assert isinstance(info.value.trigger, HepTrigger)
    return info.value


def resume(task):
    """Run a deferring task to its end: defer, run the trigger in a loop, resume."""
    deferral = deferred(task)

    async def first_event():
        async for event in deferral.trigger.run():
            return event.payload

    event = asyncio.run(first_event())
    return getattr(task, deferral.method_name)({}, event=event)


def both_modes(make, before=lambda: None):
    """Return the outcome of the same task in sync and in deferrable mode."""
    outcomes = []
    for deferrable in (False, True):
        before()
        task = make(deferrable)
        try:
            outcomes.append(("value", resume(task) if deferrable else task.execute({})))
        except Exception as exc:
            outcomes.append((type(exc).__name__, str(exc)))
    return outcomes


def patients_op(deferrable=False, **kwargs):
    kwargs.setdefault("endpoint", "patients")
    return HepOperator(task_id="call", deferrable=deferrable, **kwargs)


# -- HepOperator ------------------------------------------------------------------------------


def test_the_operator_templates_the_request_and_renders_json():
    assert HepOperator.template_fields == (
        "endpoint",
        "query",
        "json",
        "data",
        "headers",
        "hep_conn_id",
    )
    assert HepOperator.template_fields_renderers == {
        "query": "json",
        "json": "json",
        "headers": "json",
    }


def test_the_operator_takes_keyword_arguments_only():
    with pytest.raises(TypeError):
        HepOperator("patients", task_id="t")  # type: ignore[misc]


def test_no_connection_is_read_when_the_operator_is_built(monkeypatch):
    monkeypatch.delenv(CONN_ENV, raising=False)
    task = HepOperator(task_id="t", endpoint="patients", hep_conn_id="does_not_exist")
    assert task.hep_conn_id == "does_not_exist"


def test_deferrable_defaults_to_the_operators_default_deferrable_setting(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert HepOperator(task_id="t", endpoint="x").deferrable is True
    assert HepOperator(task_id="t", endpoint="x", deferrable=False).deferrable is False
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert HepOperator(task_id="t", endpoint="x").deferrable is False


def test_both_modes_return_the_decoded_json_body(sandbox):
    sandbox()
    outcomes = both_modes(lambda d: patients_op(d, endpoint="patients/PAT-0000003"))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1]["id"] == "PAT-0000003"


def test_both_modes_return_the_response_filters_result(sandbox):
    sandbox()

    def ids(response):
        return [p["id"] for p in response.json()["value"]]

    outcomes = both_modes(
        lambda d: patients_op(d, query={"$top": 2, "$orderby": "id"}, response_filter=ids)
    )
    assert outcomes == [("value", ["PAT-0000001", "PAT-0000002"])] * 2


def test_both_modes_return_the_text_of_a_body_that_is_not_json(sandbox):
    sb = sandbox()
    outcomes = both_modes(patients_op, before=lambda: sb.set_faults("malformed:first=1"))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1].startswith('{"value": [{"id": "PAT-0000001", "lastModified": 2026')


def test_both_modes_return_none_for_an_empty_answer(sandbox):
    sb = sandbox()
    ids = []
    for _ in range(2):
        created = patients_op(
            endpoint="messages", method="POST", json={"patientId": "PAT-0000001", "text": "x"}
        ).execute({})
        ids.append(created["id"])
    outcomes = [
        ("value", patients_op(endpoint=f"messages/{ids[0]}", method="DELETE").execute({})),
        ("value", resume(patients_op(True, endpoint=f"messages/{ids[1]}", method="DELETE"))),
    ]
    assert outcomes == [("value", None)] * 2
    assert sb.stats["writes_applied"] == 4


def test_both_modes_send_the_post_body(sandbox):
    sb = sandbox()
    body = {"patientId": "PAT-0000001", "text": "Your summary for 2026-01-01 is ready."}
    outcomes = both_modes(lambda d: patients_op(d, endpoint="messages", method="POST", json=body))
    assert [value["text"] for _, value in outcomes] == [body["text"]] * 2
    assert sb.stats["writes_applied"] == 2


def test_a_failed_response_check_fails_without_retry_in_both_modes(sandbox):
    sandbox()
    outcomes = both_modes(lambda d: patients_op(d, response_check=lambda r: "nope" in r.text))
    assert (
        outcomes
        == [
            (
                "AirflowFailException",
                "response_check returned False for the 200 answer to GET patients",
            )
        ]
        * 2
    )


def test_a_404_fails_without_retry_in_both_modes(sandbox):
    sandbox()
    outcomes = both_modes(lambda d: patients_op(d, endpoint="patients/PAT-9999999"))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "AirflowFailException"
    assert outcomes[0][1].startswith("HEP API answered 404 to GET /api/v1/patients/PAT-9999999")
    assert "retrying cannot fix this (the endpoint or resource does not exist)" in outcomes[0][1]


def test_invalid_client_fails_without_retry_in_both_modes(sandbox, monkeypatch):
    sb = sandbox()
    conn = json.loads(sb.conn_json())
    conn["password"] = "wrong-secret-123"
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    outcomes = both_modes(patients_op)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == "AirflowFailException"
    assert "invalid_client" in outcomes[0][1]
    assert "check the connection's Client ID and Client Secret" in outcomes[0][1]


def test_a_persistent_server_error_is_left_for_airflow_to_retry_in_both_modes(sandbox):
    sandbox(faults="503")
    outcomes = both_modes(patients_op)
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == ("HepApiError", outcomes[0][1])
    assert outcomes[0][1].startswith("HEP API answered 503 to GET /api/v1/patients")


def test_a_return_value_over_the_xcom_limit_fails_with_the_remedies(sandbox):
    sandbox(records=6000, page_size=6000)
    with pytest.raises(AirflowFailException, match="response_filter, or use HepSyncOperator"):
        patients_op(query={"$top": 6000}).execute({})


def test_a_large_answer_is_fine_when_filtered_or_not_pushed(sandbox):
    sandbox(records=6000, page_size=6000)
    query = {"$top": 6000}
    count = patients_op(query=query, response_filter=lambda r: len(r.json()["value"]))
    assert count.execute({}) == 6000
    unpushed = patients_op(query=query, do_xcom_push=False).execute({})
    assert len(json.dumps(unpushed)) > MAX_XCOM_BYTES


def test_a_deferred_answer_too_large_for_an_event_fails_with_the_remedies(sandbox):
    sandbox(records=6000, page_size=6000)
    with pytest.raises(AirflowFailException, match="without deferrable=True and a response_filter"):
        resume(patients_op(True, query={"$top": 6000}))


def test_bodies_are_logged_only_when_log_response_is_set(sandbox, caplog, capsys):
    sandbox()
    caplog.set_level(logging.DEBUG)
    patients_op(endpoint="patients/PAT-0000001").execute({})
    quiet = caplog.text + "".join(capsys.readouterr())
    assert "HEP answered 200" in quiet
    assert "FAKE-MRN-00000001" not in quiet
    patients_op(endpoint="patients/PAT-0000001", log_response=True).execute({})
    assert "FAKE-MRN-00000001" in caplog.text + "".join(capsys.readouterr())


def test_an_authorization_header_is_refused(sandbox):
    sandbox()
    with pytest.raises(HepConfigError, match="headers: must not set Authorization"):
        patients_op(headers={"authorization": "Bearer mine"}).execute({})


def test_the_deferred_call_carries_plain_request_values(sandbox):
    sandbox()
    task = patients_op(True, method="post", endpoint="messages", json={"a": 1}, query={"q": 1})
    classpath, kwargs = deferred(task).trigger.serialize()
    assert classpath == "airflow_provider_hep.triggers.hep.HepTrigger"
    assert kwargs["poll"] is False
    assert (kwargs["method"], kwargs["json"], kwargs["query"]) == ("POST", {"a": 1}, {"q": 1})


# -- HepSensor --------------------------------------------------------------------------------


def sensor(deferrable=False, **kwargs):
    kwargs.setdefault("endpoint", "patients/PAT-0000001")
    return HepSensor(task_id="wait", deferrable=deferrable, poke_interval=0, **kwargs)


def test_the_sensor_templates_the_request_like_the_operator():
    assert HepSensor.template_fields == HepOperator.template_fields
    assert HepSensor.template_fields_renderers == HepOperator.template_fields_renderers


def test_a_callable_check_with_deferrable_true_is_refused_at_construction():
    with pytest.raises(
        HepConfigError,
        match=r"response_check: a callable cannot travel to the triggerer, so deferrable=True "
        r"would ignore it; pass a declarative check instead",
    ):
        sensor(True, response_check=lambda r: True)


def test_a_callable_check_keeps_a_default_deferrable_sensor_on_the_worker_and_says_so(
    sandbox, monkeypatch, capsys
):
    sandbox()
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    kept = HepSensor(task_id="a", endpoint="patients", response_check=lambda r: True)
    assert kept.deferrable is False
    assert kept.execute({}) is None
    assert "cannot travel to the triggerer: poking on the worker" in capsys.readouterr().out
    assert HepSensor(task_id="b", endpoint="x", check=EXPORT_DONE).deferrable is True


def test_a_bad_declarative_check_is_refused_at_construction():
    with pytest.raises(HepConfigError, match="check: unknown key"):
        sensor(check={"path": "status", "equal": "done"})


def test_a_poke_passes_with_the_checked_value(sandbox):
    sandbox()
    result = sensor(check={"path": "id", "equals": "PAT-0000001"}).poke({})
    assert isinstance(result, PokeReturnValue)
    assert (result.is_done, result.xcom_value) == (True, "PAT-0000001")


def test_a_poke_without_checks_passes_on_a_2xx_answer(sandbox):
    sandbox()
    result = sensor().poke({})
    assert (result.is_done, result.xcom_value) == (True, None)


def test_a_pending_value_means_poke_again(sandbox):
    sandbox()
    assert sensor(check={"path": "id", "equals": "PAT-0000002"}).poke({}) is False


def test_a_callable_check_returning_false_means_poke_again(sandbox):
    sandbox()
    assert sensor(response_check=lambda r: r.json()["id"] == "other").poke({}) is False
    assert sensor(response_check=lambda r: r.json()["id"] == "PAT-0000001").poke({})


def test_a_fail_on_value_fails_the_poke_at_once(sandbox):
    sandbox()
    check = {"path": "id", "equals": "x", "fail_on": ["PAT-0000001"]}
    with pytest.raises(
        AirflowFailException, match="id is 'PAT-0000001', one of the check's fail_on"
    ):
        sensor(check=check).poke({})


def test_a_404_means_poke_again_only_with_poke_on_404(sandbox):
    sandbox()
    assert sensor(endpoint="exports/EXP-404", poke_on_404=True).poke({}) is False
    with pytest.raises(AirflowFailException, match="answered 404"):
        sensor(endpoint="exports/EXP-404").poke({})


def test_the_sensor_in_poke_mode_returns_the_checked_value(sandbox):
    sb = sandbox()
    job = patients_op(
        endpoint="exports", method="POST", json={"collection": "patients", "ready_after": 2}
    ).execute({})["id"]
    assert sensor(endpoint=f"exports/{job}", check=EXPORT_DONE).execute({}) == "done"
    assert sb.stats["calls_per_token"] == {"max": 1, "tokens_used": 4, "tokens_reused": 0}


def test_the_deferrable_sensor_returns_what_poke_mode_returns(sandbox):
    sandbox()
    outcomes = []
    for deferrable in (False, True):
        job = patients_op(
            endpoint="exports", method="POST", json={"collection": "patients", "ready_after": 1}
        ).execute({})["id"]
        task = sensor(deferrable, endpoint=f"exports/{job}", check=EXPORT_DONE)
        outcomes.append(resume(task) if deferrable else task.execute({}))
    assert outcomes == ["done", "done"]


def test_the_deferred_sensor_carries_its_check_interval_and_timeout(sandbox):
    sandbox()
    task = HepSensor(
        task_id="w",
        endpoint="exports/1",
        check=EXPORT_DONE,
        deferrable=True,
        poke_interval=7,
        timeout=600,
        poke_on_404=True,
    )
    deferral = deferred(task)
    _, kwargs = deferral.trigger.serialize()
    assert kwargs["poll"] is True
    assert kwargs["check"] == {"path": "status", "in": ["done"], "fail_on": ["failed"]}
    assert (kwargs["poke_interval"], kwargs["poke_on_404"]) == (7.0, True)
    assert deferral.timeout.total_seconds() == 600


def test_the_deferred_sensor_turns_events_into_poke_mode_outcomes():
    task = sensor(True, check=EXPORT_DONE)
    assert task.execute_complete({}, {"status": "success", "value": "done", "polls": 3}) == "done"
    with pytest.raises(AirflowFailException, match="status is 'failed', one of the check's"):
        task.execute_complete({}, {"status": "check_failed", "value": "failed", "polls": 1})
    not_found = {"type": "api", "status": 404, "method": "GET", "path": "/x", "excerpt": ""}
    with pytest.raises(AirflowFailException, match="answered 404 to GET /x"):
        task.execute_complete({}, {"status": "error", "error": not_found})
    busy = {**not_found, "status": 503}
    with pytest.raises(HepApiError, match="answered 503 to GET /x"):
        task.execute_complete({}, {"status": "error", "error": busy})


def test_a_post_whose_answer_was_lost_fails_without_task_retries():
    from airflow_provider_hep.exceptions import HepTransportError
    from airflow_provider_hep.operators.hep import final_failure
    from airflow_provider_hep.retry import Failure

    lost = HepTransportError(
        "POST /api/v1/messages failed after 1 attempt(s)", Failure.READ_TIMEOUT
    )
    assert "may have been applied" in str(final_failure(lost, method="POST"))
    assert final_failure(lost, method="GET") is None
    refused = HepTransportError("POST /api/v1/messages failed", Failure.CONNECT)
    assert final_failure(refused, method="POST") is None


@pytest.mark.parametrize(
    ("status", "final"), [(500, True), (502, True), (504, True), (503, False), (429, False)]
)
def test_a_post_that_may_have_been_applied_by_a_5xx_fails_without_task_retries(status, final):
    from airflow_provider_hep.operators.hep import final_failure

    answered = HepApiError(status, "POST", "/api/v1/messages", "")
    assert (final_failure(answered, method="POST") is not None) is final
    assert final_failure(answered, method="PUT") is None  # idempotent: a retry is safe


def test_a_polling_post_answered_500_fails_without_task_retries_in_both_modes(sandbox):
    sb = sandbox()
    sb.set_faults("500:path=/api/v1/messages:every=1")
    body = {"patientId": "PAT-0000001", "text": "x"}
    outcomes = both_modes(
        lambda d: sensor(d, endpoint="messages", method="POST", json=body),
    )
    assert [kind for kind, _ in outcomes] == ["AirflowFailException"] * 2
    assert all("may have been applied" in message for _, message in outcomes)


def test_sealed_bodies_open_only_with_the_deployments_fernet_key(monkeypatch):
    from cryptography.fernet import Fernet, InvalidToken

    from airflow_provider_hep.sealing import seal, unseal

    sealed = seal('{"lastName": "Testperson-1234"}')
    assert "Testperson" not in sealed
    assert unseal(sealed) == '{"lastName": "Testperson-1234"}'
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    with pytest.raises(InvalidToken):
        unseal(sealed)
