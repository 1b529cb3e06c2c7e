"""Test-only DAG: one mapped HepSyncOperator per case in $HEP_SYNC_CASES (a JSON list).

Copied into the test session's dags_folder by tests/conftest.py. Each case is a dict of
HepSyncOperator arguments (endpoint, destination, pagination, query, ...).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG
from airflow.timetables.interval import DeltaDataIntervalTimetable

from airflow_provider_hep.operators.sync import HepSyncOperator

CASES = json.loads(os.environ.get("HEP_SYNC_CASES", "[]")) or [
    {"endpoint": "patients", "destination": "/tmp/hep-sync-cases"}
]
RETRIES = int(os.environ.get("HEP_SYNC_RETRIES", "0"))

with DAG(
    dag_id="hep_sync_cases",
    schedule=DeltaDataIntervalTimetable(timedelta(hours=1)),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    # dag.test() honours retry_delay (default 300 s): keep real retries, without the wait.
    default_args={"retries": RETRIES, "retry_delay": timedelta(seconds=0)},
) as hep_sync_cases:
    HepSyncOperator.partial(task_id="sync").expand_kwargs(CASES)
