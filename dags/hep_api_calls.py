"""Call HEP APIs as DAG steps: a filtered GET, a templated POST, and a deferred wait for a job.

Every call gets a fresh OAuth 2.0 token (HEP requires one per call). Connection:
`sap_hep_default`; try it against the local sandbox with `python -m airflow_provider_hep.sandbox`.

XCom lives in the metadata DB, and HEP answers can hold patient data: each task returns only
what the next task needs (`response_filter`). For bulk data, use `HepSyncOperator`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG
from airflow.timetables.interval import DeltaDataIntervalTimetable

from airflow_provider_hep.operators.hep import HepOperator
from airflow_provider_hep.sensors.hep import HepSensor


def patient_ids(response):
    """Keep the ids only: the rest of each patient record stays out of XCom."""
    return [patient["id"] for patient in response.json()["value"]]


def message_id(response):
    """Keep the id of the created message."""
    return response.json()["id"]


def export_id(response):
    """Keep the id of the started export job."""
    return response.json()["id"]


with DAG(
    dag_id="hep_api_calls",
    # A data-interval timetable, so {{ ds }} names the day each run covers.
    schedule=DeltaDataIntervalTimetable(timedelta(days=1)),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1)},
    tags=["hep", "example"],
) as hep_api_calls:
    # A GET with a response_filter: only the ids reach XCom.
    list_patients = HepOperator(
        task_id="list_patients",
        endpoint="patients",
        query={"$top": 3, "$orderby": "id"},
        response_filter=patient_ids,
    )

    # A templated POST: the body is rendered per run, {{ ds }} is the day the run covers.
    post_message = HepOperator(
        task_id="post_message",
        endpoint="messages",
        method="POST",
        json={
            "patientId": "{{ ti.xcom_pull(task_ids='list_patients')[0] }}",
            "text": "Your care summary for {{ ds }} is ready.",
        },
        response_filter=message_id,
    )

    # Start an asynchronous export job (the sandbox's job finishes after `ready_after` polls).
    start_export = HepOperator(
        task_id="start_export",
        endpoint="exports",
        method="POST",
        json={"collection": "patients", "ready_after": 2},
        response_filter=export_id,
    )

    # Wait in the triggerer, not on a worker: a declarative check travels with the trigger,
    # a fresh token is fetched for each poll, and the task returns the checked value.
    wait_for_export = HepSensor(
        task_id="wait_for_export",
        endpoint="exports/{{ ti.xcom_pull(task_ids='start_export') }}",
        check={"path": "status", "equals": "done", "fail_on": ["failed"]},
        deferrable=True,
        poke_interval=30,
        timeout=timedelta(hours=2).total_seconds(),
    )

    list_patients >> post_message
    start_export >> wait_for_export
