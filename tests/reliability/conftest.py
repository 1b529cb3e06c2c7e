"""Load DAGs for the reliability suite without retry waits.

The metadata DB fixture and the ``dags`` marker come from tests/conftest.py.

Every test here runs under `make dags` (marked ``dags``): they start real servers and, most of
them, run DAGs with dag.test() against the session's SQLite metadata DB. The hypothesis
property tests live in tests/unit/test_hostile_input.py, which `make unit` runs.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from hep_testing import import_dag

DAGS = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture
def load_dag(airflow_db):  # type: ignore[no-untyped-def]
    """Import a DAG file from the dags_folder and return the named DAG, without retry waits.

    dag.test() honours ``retry_delay`` (300 s by default): it is set to zero on every task,
    and the tasks keep their real number of retries.
    """

    def load(filename: str, dag_id: str):  # type: ignore[no-untyped-def]
        dag = import_dag(DAGS / filename, dag_id)
        for task in dag.tasks:
            task.retry_delay = timedelta(0)
        return dag

    return load
