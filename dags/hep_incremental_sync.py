"""Sync HEP patients and appointments every hour, one exact copy per data interval.

Backfill with `airflow backfill create --dag-id hep_incremental_sync --from-date ... --to-date ...`;
rerunning an interval replaces its output. Output goes under a local folder by default; set the
Airflow Variable `hep_sync_destination` (or the `destination_root` param) to an object store URI,
e.g. `s3://lake/hep`, for workers on several machines.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import DAG, AssetAlias, Param
from airflow.timetables.interval import DeltaDataIntervalTimetable

from airflow_provider_hep.operators.sync import HepSyncOperator

COLLECTIONS = ["patients", "appointments"]
LOCAL_DEFAULT = os.path.join(
    os.environ.get("AIRFLOW_HOME", os.path.expanduser("~/airflow")), "hep-lake"
)
# Partition by interval start, not {{ ds }}: an hourly DAG would overwrite {{ ds }} every hour.
DESTINATION = (
    "{{ var.value.get('hep_sync_destination', params.destination_root) }}"
    "/{{ task.endpoint }}/start={{ data_interval_start | ts_nodash }}"
)

with DAG(
    dag_id="hep_incremental_sync",
    # A data-interval timetable: each run covers [start, start + 1 h). (Airflow 3's default for
    # a cron string gives runs a zero-length interval, which would sync nothing.)
    schedule=DeltaDataIntervalTimetable(timedelta(hours=1)),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=4,
    params={
        "destination_root": Param(
            LOCAL_DEFAULT, type="string", description="Local path or object store URI"
        )
    },
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
    tags=["hep", "example"],
) as hep_incremental_sync:
    HepSyncOperator.partial(
        task_id="sync",
        destination=DESTINATION,
        pagination="odata",
        max_concurrency=4,
        primary_key="id",
        outlets=[AssetAlias("hep-collections")],
    ).expand(endpoint=COLLECTIONS)
