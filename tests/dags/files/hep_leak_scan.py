"""Test-only DAG for the secret and PHI leak scan: every example task kind, fast.

Copied into the test session's dags_folder by tests/conftest.py. It runs what the example DAGs
run (a windowed sync, a filtered GET, a templated POST, an export and a deferrable sensor, the
connection check), with a sensor poke_interval of a fraction of a second, so that
`airflow dags test hep_leak_scan` finishes in seconds. Outputs go under $HEP_LEAK_ROOT.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, task
from airflow.timetables.interval import DeltaDataIntervalTimetable

from airflow_provider_hep.operators.hep import HepOperator
from airflow_provider_hep.operators.sync import HepSyncOperator
from airflow_provider_hep.sensors.hep import HepSensor

ROOT = os.environ.get("HEP_LEAK_ROOT", "/tmp/hep-leak-scan")


def patient_ids(response):
    """Keep the ids only: the rest of each patient record stays out of XCom."""
    return [patient["id"] for patient in response.json()["value"]]


def created_id(response):
    """Keep the id of the created message or export job."""
    return response.json()["id"]


@task
def count_patients() -> int:
    """Fetch at most one patient and return only how many came back."""
    from airflow_provider_hep.hooks.hep import HepHook

    return len(HepHook().run("patients", params={"$top": "1"}).json()["value"])


with DAG(
    dag_id="hep_leak_scan",
    schedule=DeltaDataIntervalTimetable(timedelta(hours=1)),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 0},
) as hep_leak_scan:
    sync = HepSyncOperator(
        task_id="sync_patients",
        endpoint="patients",
        destination=ROOT + "/patients/start={{ data_interval_start | ts_nodash }}",
        max_concurrency=2,
        primary_key="id",
    )
    list_patients = HepOperator(
        task_id="list_patients",
        endpoint="patients",
        query={"$top": 3, "$orderby": "id"},
        response_filter=patient_ids,
    )
    post_message = HepOperator(
        task_id="post_message",
        endpoint="messages",
        method="POST",
        json={
            "patientId": "{{ ti.xcom_pull(task_ids='list_patients')[0] }}",
            "text": "Your care summary for {{ ds }} is ready.",
        },
        response_filter=created_id,
    )
    start_export = HepOperator(
        task_id="start_export",
        endpoint="exports",
        method="POST",
        json={"collection": "patients", "ready_after": 2},
        response_filter=created_id,
    )
    wait_for_export = HepSensor(
        task_id="wait_for_export",
        endpoint="exports/{{ ti.xcom_pull(task_ids='start_export') }}",
        check={"path": "status", "equals": "done", "fail_on": ["failed"]},
        deferrable=True,
        poke_interval=0.2,
        timeout=120,
    )
    list_patients >> post_message
    start_export >> wait_for_export
    count_patients()

with DAG(
    dag_id="hep_leak_scan_deferred_call",
    schedule=DeltaDataIntervalTimetable(timedelta(hours=1)),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    default_args={"retries": 0},
) as hep_leak_scan_deferred_call:
    # The call runs in the triggerer; only the ids should ever be stored.
    HepOperator(
        task_id="list_patients_deferred",
        endpoint="patients",
        query={"$top": 3, "$orderby": "id"},
        response_filter=patient_ids,
        deferrable=True,
    )
