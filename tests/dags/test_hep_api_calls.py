"""Run the hep_api_calls example DAG with dag.test() against the sandbox (single-use tokens).

Each run gets its own sandbox. The DAG is loaded from the dags folder and, for some runs, its
task objects are switched to another mode (dag.test() runs the loaded task objects) before the
run. The metadata DB is the session's real SQLite DB, and is read back with SQL.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hep_testing import import_dag
from sqlalchemy import inspect, text

from airflow_provider_hep.auth import basic_credentials
from airflow_provider_hep.sandbox import HepSandbox

DAG_FILE = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / "hep_api_calls.py"
DAG_ID = "hep_api_calls"
OPERATORS = ("list_patients", "post_message", "start_export")
SENSOR = "wait_for_export"
EXPECTED_XCOM = {
    "list_patients": ["PAT-0000001", "PAT-0000002", "PAT-0000003"],
    "post_message": "MSG-0000001",
    "start_export": "EXP-0000001",
    SENSOR: "done",
}


@dataclass
class Run:
    """What one dag.test() run left behind, in the sandbox and in the metadata DB."""

    state: str
    run_id: str
    logical_date: Any
    tasks: dict[str, tuple[str, int]]
    xcom: dict[str, Any]
    rendered: dict[str, dict[str, Any]]
    events: dict[str, list[str]]
    stats: dict[str, Any]
    messages: list[dict[str, Any]]
    client_id: str
    client_secret: str


def load_example():
    """Import the example DAG file afresh (its task objects get tweaked per run)."""
    return import_dag(DAG_FILE, DAG_ID)


def query(sql: str, **params: Any) -> list[Any]:
    from airflow import settings

    with settings.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def record_deferrals(mp: pytest.MonkeyPatch) -> list[str]:
    """Record the task id of every task that defers to the triggerer during the run."""
    from airflow.providers.common.compat.sdk import BaseOperator

    deferred: list[str] = []
    original = BaseOperator.defer

    def recording_defer(self, *args, **kwargs):
        deferred.append(self.task_id)
        return original(self, *args, **kwargs)

    mp.setattr(BaseOperator, "defer", recording_defer)
    return deferred


def run_example(*, tweak=None, faults=None, secret_override=None) -> Run:
    """Run the example DAG once against a fresh single-use-token sandbox."""
    dag = load_example()
    dag.get_task(SENSOR).poke_interval = 0.05
    if tweak is not None:
        tweak(dag)
    with HepSandbox(records=20, single_use_tokens=True, faults=faults) as sb:
        conn = json.loads(sb.conn_json())
        if secret_override:
            conn["password"] = secret_override
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
            deferred = record_deferrals(mp)
            dagrun = dag.test()
        stats, messages = sb.stats, sb.records("messages")
    run_id = dagrun.run_id
    where = {"dag_id": DAG_ID, "run_id": run_id}
    tasks = query(
        "SELECT task_id, state, try_number FROM task_instance "
        "WHERE dag_id = :dag_id AND run_id = :run_id",
        **where,
    )
    xcoms = query(
        "SELECT task_id, value FROM xcom WHERE dag_id = :dag_id AND run_id = :run_id "
        "AND key = 'return_value'",
        **where,
    )
    rendered = query(
        "SELECT task_id, rendered_fields FROM rendered_task_instance_fields "
        "WHERE dag_id = :dag_id AND run_id = :run_id",
        **where,
    )
    # Every Airflow version: the tasks that really deferred (3.1's dag.test() logs no event).
    events: dict[str, list[str]] = {task_id: ["deferred"] for task_id in deferred}
    for task_id, event in query(
        "SELECT task_id, event FROM log WHERE dag_id = :dag_id AND run_id = :run_id ORDER BY id",
        **where,
    ):
        events.setdefault(task_id, []).append(event)
    return Run(
        state=str(dagrun.state),
        run_id=run_id,
        logical_date=dagrun.logical_date,
        tasks={task_id: (state, try_number) for task_id, state, try_number in tasks},
        xcom={task_id: json.loads(value) for task_id, value in xcoms},
        rendered={task_id: json.loads(fields) for task_id, fields in rendered},
        events=events,
        stats=stats,
        messages=messages,
        client_id=conn["login"],
        client_secret=conn["password"],
    )


def without_retry_delay(dag):
    """Keep the example's retries=2 but drop the delay: a wrong retry then shows up at once."""
    for task in dag.tasks:
        task.retry_delay = timedelta(0)


def metadata_db_text() -> str:
    """Return every row of every table in the metadata DB as text."""
    from airflow import settings

    names = inspect(settings.engine).get_table_names()
    return "\n".join(repr(row) for name in names for row in query(f'SELECT * FROM "{name}"'))  # noqa: S608


def assert_one_fresh_token_per_call(stats):
    assert stats["auth_failures"] == 0
    assert stats["tokens_issued"] == stats["api_calls_ok"]
    assert stats["calls_per_token"]["max"] == 1
    assert stats["calls_per_token"]["tokens_reused"] == 0


def assert_no_token_or_secret_in_the_metadata_db(run):
    assert run.xcom  # the scan below covers a run that pushed XCom...
    assert run.rendered  # ...and stored rendered template fields
    stored = metadata_db_text()
    assert run.run_id in stored
    basic = basic_credentials(run.client_id, run.client_secret)
    secrets = [run.client_secret, basic, *run.stats["tokens"]]
    assert len(secrets) == 2 + run.stats["tokens_issued"]
    assert [s for s in secrets if s in stored] == []


# -- the example as written: sync operators, a deferrable sensor -------------------------------


@pytest.fixture(scope="module")
def as_written(airflow_db):
    return run_example()


def test_the_example_dag_runs_green_and_returns_only_the_filtered_values(as_written):
    assert as_written.state == "success"
    assert as_written.tasks == {task_id: ("success", 1) for task_id in EXPECTED_XCOM}
    assert as_written.xcom == EXPECTED_XCOM


def test_the_example_sensor_waited_in_the_triggerer(as_written):
    assert "deferred" in as_written.events[SENSOR]
    assert as_written.stats["requests_by_path"]["/api/v1/exports/EXP-0000001"] == 3


def test_the_example_dag_takes_one_fresh_token_per_call(as_written):
    assert as_written.stats["api_calls_ok"] == 6  # 3 operators + 3 polls
    assert_one_fresh_token_per_call(as_written.stats)


def test_the_templated_post_rendered_ds_into_the_body_it_sent(as_written):
    ds = as_written.logical_date.strftime("%Y-%m-%d")
    text_sent = f"Your care summary for {ds} is ready."
    assert as_written.rendered["post_message"]["json"] == {
        "patientId": "PAT-0000001",
        "text": text_sent,
    }
    assert [m["text"] for m in as_written.messages] == [text_sent]


def test_xcom_and_rendered_fields_hold_no_token_or_secret(as_written):
    assert_no_token_or_secret_in_the_metadata_db(as_written)


# -- the other modes: deferrable operators, a sensor in reschedule mode or poke mode -----------


def flip_modes(dag):
    for task_id in OPERATORS:
        dag.get_task(task_id).deferrable = True
    sensor = dag.get_task(SENSOR)
    sensor.deferrable, sensor.mode = False, "reschedule"


@pytest.fixture(scope="module")
def flipped(airflow_db):
    return run_example(tweak=flip_modes)


def test_deferrable_operators_and_a_rescheduled_sensor_give_the_same_results(flipped):
    assert flipped.state == "success"
    assert flipped.tasks == {task_id: ("success", 1) for task_id in EXPECTED_XCOM}
    assert flipped.xcom == EXPECTED_XCOM
    for task_id in OPERATORS:
        assert "deferred" in flipped.events[task_id]
    # Rescheduled, not deferred: three separate pokes (3.1's dag.test() logs no reschedule rows).
    assert "deferred" not in flipped.events.get(SENSOR, [])
    assert flipped.stats["requests_by_path"]["/api/v1/exports/EXP-0000001"] == 3


def test_deferrable_operators_take_one_fresh_token_per_call_and_leak_nothing(flipped):
    assert flipped.stats["api_calls_ok"] == 6
    assert_one_fresh_token_per_call(flipped.stats)
    assert_no_token_or_secret_in_the_metadata_db(flipped)


def poke_mode(dag):
    sensor = dag.get_task(SENSOR)
    sensor.deferrable, sensor.mode = False, "poke"


def test_a_429_is_retried_and_a_poking_sensor_succeeds(airflow_db):
    run = run_example(tweak=poke_mode, faults="429:first=1:retry_after=1")
    assert run.state == "success"
    assert run.tasks == {task_id: ("success", 1) for task_id in EXPECTED_XCOM}
    assert run.xcom == EXPECTED_XCOM
    assert run.stats["faults_injected"] == {"429": 1}
    assert "deferred" not in run.events.get(SENSOR, [])


# -- failures that retrying cannot fix fail at once, despite retries=2 -------------------------


def sync_and_deferrable_starts(dag):
    without_retry_delay(dag)
    dag.get_task("start_export").deferrable = True


def test_invalid_client_fails_the_tasks_without_retry_in_both_modes(airflow_db):
    run = run_example(tweak=sync_and_deferrable_starts, secret_override="not-the-secret-42")
    assert run.state == "failed"
    assert run.tasks == {
        "list_patients": ("failed", 1),
        "start_export": ("failed", 1),
        "post_message": ("upstream_failed", 0),
        SENSOR: ("upstream_failed", 0),
    }
    assert "deferred" in run.events["start_export"]
    assert run.stats["token_requests"] == 2
    assert run.stats["api_calls"] == 0


def failing_checks(dag):
    without_retry_delay(dag)
    dag.get_task("list_patients").response_check = lambda response: False
    dag.get_task(SENSOR).check = {"path": "status", "in": ["done"], "fail_on": ["running"]}


def test_a_failed_check_fails_the_task_without_retry(airflow_db):
    run = run_example(tweak=failing_checks)
    assert run.state == "failed"
    assert run.tasks["list_patients"] == ("failed", 1)
    assert run.tasks[SENSOR] == ("failed", 1)
    assert "deferred" in run.events[SENSOR]
    assert run.tasks["start_export"] == ("success", 1)
    assert run.stats["requests_by_path"]["/api/v1/exports/EXP-0000001"] == 1
