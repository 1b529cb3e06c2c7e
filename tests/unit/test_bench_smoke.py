"""benchmarks/bench_sync.py keeps working: a tiny smoke run of every arm, and without dlt."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "benchmarks" / "bench_sync.py"
# Runs the script as __main__ with dlt unimportable, as in an install without the bench extra.
WITHOUT_DLT = (
    "import runpy, sys\n"
    "sys.modules['dlt'] = None\n"
    f"runpy.run_path({str(SCRIPT)!r}, run_name='__main__')\n"
)


def bench(*args: str, prelude: list[str] | None = None, timeout: float = 60) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    command = [sys.executable, *(prelude or [str(SCRIPT)]), *args]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout


@pytest.mark.slow
def test_the_smoke_run_measures_every_arm_and_renders_the_tables():
    report = bench("--smoke")
    assert "### Records per second" in report
    for arm in ("provider: `HepHook.paginate`", "limit: bare", "stock: `HttpHook`"):
        assert arm in report
    assert ("dlt: `RESTClient`" in report) or ("dlt is not installed" in report)
    assert "### RSS of the provider arm" in report
    assert "`airflow_provider_hep.operators.sync`" in report
    assert "| provider x8 ≥ 5 x stock (10 ms) |" not in report  # no 10 ms setting in a smoke


@pytest.mark.slow
def test_without_dlt_the_dlt_arm_is_skipped_with_a_note():
    args = ("--smoke", "--skip", "rss,imports", "--latencies", "0", "--arms", "provider,dlt")
    report = bench(*args, prelude=["-c", WITHOUT_DLT])
    assert "dlt is not installed" in report
    assert "provider: `HepHook.paginate`" in report
    assert "dlt: `RESTClient`" not in report
