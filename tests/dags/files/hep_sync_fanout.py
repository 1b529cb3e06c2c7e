"""Test-only DAG: 16 dynamically mapped HepSyncOperator tasks, each a different collection/window.

Copied into the test session's dags_folder by tests/conftest.py. Outputs go under
$HEP_FANOUT_ROOT/<collection>/lookback=<hours>h; the window of each task is the run's data
interval widened by its lookback, so no two tasks sync the same (collection, window).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG
from airflow.timetables.interval import DeltaDataIntervalTimetable

from airflow_provider_hep.operators.sync import HepSyncOperator

ROOT = os.environ.get("HEP_FANOUT_ROOT", "/tmp/hep-sync-fanout")
LOOKBACK_HOURS = {"patients": range(6), "appointments": range(5), "care-plans": range(5)}
CASES = [
    {
        "endpoint": endpoint,
        "lookback": timedelta(hours=hours),
        "max_concurrency": 1 + hours % 4,
        "destination": f"{ROOT}/{endpoint}/lookback={hours}h",
    }
    for endpoint, lookbacks in LOOKBACK_HOURS.items()
    for hours in lookbacks
]

with DAG(
    dag_id="hep_sync_fanout",
    schedule=DeltaDataIntervalTimetable(timedelta(hours=1)),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    # dag.test() honours retry_delay (default 300 s): keep real retries, without the wait.
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
) as hep_sync_fanout:
    HepSyncOperator.partial(task_id="sync", primary_key="id", count_check="fail").expand_kwargs(
        CASES
    )
