"""Run example DAGs with dag.test() against a real SQLite metadata DB.

The DAG files live in the configured dags_folder (see tests/conftest.py, which also marks these
tests ``dags`` and migrates the DB once through the ``airflow_db`` fixture).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hep_testing import import_dag

DAGS = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture
def load_dag(airflow_db):  # type: ignore[no-untyped-def]
    """Import a DAG file from the dags_folder and return the named DAG object."""

    def load(filename: str, dag_id: str):  # type: ignore[no-untyped-def]
        return import_dag(DAGS / filename, dag_id)

    return load
