"""Share the reliability suite's fixtures: the metadata DB, DAG loading and the sandbox.

Every test here runs under `make dags` (marked ``dags``): they start real servers and, most of
them, run DAGs with dag.test() against the session's SQLite metadata DB. The hypothesis
property tests live in tests/unit/test_hostile_input.py, which `make unit` runs.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_provider_hep.sandbox import pytest_plugin

DAGS = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
CONN_ENV = "AIRFLOW_CONN_SAP_HEP_DEFAULT"

hep_sandbox_factory = pytest_plugin.hep_sandbox_factory


def pytest_collection_modifyitems(items):  # type: ignore[no-untyped-def]
    """Mark every test in this folder for `make dags` (they need servers and the DB)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.dags)


def _migrated(url: str) -> bool:
    """Tell whether the SQLite DB already holds Airflow's schema (tests/dags migrated it)."""
    path = url.removeprefix("sqlite:///")
    if not url.startswith("sqlite:///") or not Path(path).exists():
        return False
    with sqlite3.connect(path) as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    return {"alembic_version", "dag_run", "xcom", "rendered_task_instance_fields"} <= names


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """Migrate the session's SQLite metadata DB once (unless tests/dags already did)."""
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if not _migrated(url):
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            capture_output=True,
            text=True,
            timeout=300,
            env=os.environ,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return url


@pytest.fixture
def load_dag(airflow_db):  # type: ignore[no-untyped-def]
    """Import a DAG file from the dags_folder and return the named DAG, without retry waits.

    dag.test() honours ``retry_delay`` (300 s by default): it is set to zero on every task,
    and the tasks keep their real number of retries.
    """

    def load(filename: str, dag_id: str):  # type: ignore[no-untyped-def]
        path = DAGS / filename
        spec = importlib.util.spec_from_file_location(f"hep_reliability_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dags = [
            v for v in vars(module).values() if type(v).__name__ == "DAG" and v.dag_id == dag_id
        ]
        assert dags, f"{filename} defines no module-level DAG {dag_id!r}"
        for task in dags[0].tasks:
            task.retry_delay = timedelta(0)
        return dags[0]

    return load
