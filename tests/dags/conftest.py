"""Run example DAGs with dag.test() against a real SQLite metadata DB.

The DAG files live in the configured dags_folder (the repo's dags/, see tests/conftest.py);
`airflow db migrate` runs once per session before any DAG test.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def pytest_collection_modifyitems(items):  # type: ignore[no-untyped-def]
    """Mark every test in this folder as a DAG test (`make dags`)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.dags)


@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the session's SQLite metadata DB once."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


@pytest.fixture
def load_dag(airflow_db):
    """Import a DAG file from the dags_folder and return the named DAG object."""

    def load(filename: str, dag_id: str):
        path = DAGS / filename
        spec = importlib.util.spec_from_file_location(f"hep_test_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        dags = [
            v for v in vars(module).values() if type(v).__name__ == "DAG" and v.dag_id == dag_id
        ]
        assert dags, f"{filename} defines no module-level DAG {dag_id!r}"
        return dags[0]

    return load
