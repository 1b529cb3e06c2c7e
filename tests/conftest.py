"""Give every test run its own Airflow home and turn skips into failures in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Our own opt-in sandbox plugin: the fixtures hep_sandbox, hep_sandbox_factory, hep_connection.
pytest_plugins = ["airflow_provider_hep.sandbox.pytest_plugin"]

# Set before anything imports airflow: a private SQLite home, no examples, and a dags_folder
# holding the repo's example DAGs plus the test-only DAG files of tests/dags/files/.
_HOME = Path(os.environ.get("HEP_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="hep-airflow-"))
_DAGS = _HOME / "dags"
_DAGS.mkdir(parents=True, exist_ok=True)
for _source in [*REPO.glob("dags/*.py"), *REPO.glob("tests/dags/files/*.py")]:
    shutil.copy2(_source, _DAGS / _source.name)
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(_DAGS)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
# A Fernet key, as every deployment has: deferrable calls seal response bodies with it.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "tBWU2e6dtnpRCmvZ5YFKu7FEpDEUm6JWpGBD3uZ0s1Q=")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME / 'airflow.db'}")


def pytest_sessionfinish(session, exitstatus):  # type: ignore[no-untyped-def]
    """Fail a run that skipped anything when HEP_REQUIRE_SERVICES=1 (CI): a skip is no pass."""
    if os.environ.get("HEP_REQUIRE_SERVICES") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"HEP_REQUIRE_SERVICES=1: {skipped} skipped test(s) count as failures")
        session.exitstatus = 1


# Tests in these folders run DAGs against the metadata DB or start real servers: `make dags`.
DAG_TEST_DIRS = (REPO / "tests" / "dags", REPO / "tests" / "reliability")


def pytest_collection_modifyitems(items):  # type: ignore[no-untyped-def]
    """Mark every test under DAG_TEST_DIRS as a DAG test (`make dags`)."""
    for item in items:
        if any(folder in Path(str(item.fspath)).parents for folder in DAG_TEST_DIRS):
            item.add_marker(pytest.mark.dags)


@pytest.fixture(scope="session")
def airflow_db():  # type: ignore[no-untyped-def]
    """Migrate the session's SQLite metadata DB once, for every DAG test."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
