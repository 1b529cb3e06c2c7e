"""Start the HEP sandbox for ``bench_sync.py`` and point the Airflow connections at it."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
# The sandbox's default collection span: every record's lastModified lies in this window.
WINDOW = ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
_PR_SET_PDEATHSIG = 1


def isolated_airflow_home() -> Path:
    """Point AIRFLOW_HOME at a fresh temporary directory (before Airflow is imported)."""
    home = Path(tempfile.mkdtemp(prefix="hep-bench-airflow-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    # dlt, seeing Airflow installed, would read its settings from Airflow Variables in a
    # metadata DB that this temporary home does not have; keep it on env and files.
    os.environ.setdefault("PROVIDERS__ENABLE_AIRFLOW_SECRETS", "false")
    return home


def _die_with_parent() -> None:
    """Have the kernel SIGTERM the sandbox if the benchmark dies first (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def connection_env(info: dict[str, str]) -> dict[str, str]:
    """Return the AIRFLOW_CONN_* variables of the sap_hep and plain http connections."""
    hep = {
        "conn_type": "sap_hep",
        "host": info["base_url"],
        "login": info["client_id"],
        "password": info["client_secret"],
        "extra": {"auth_url": info["token_url"]},
    }
    http = {"conn_type": "http", "host": info["base_url"]}
    return {
        "AIRFLOW_CONN_SAP_HEP_DEFAULT": json.dumps(hep),
        "AIRFLOW_CONN_HEP_BENCH_HTTP": json.dumps(http),
    }


@contextlib.contextmanager
def sandbox(
    records: int, latency_ms: float, start_timeout: float = 60.0
) -> Iterator[dict[str, Any]]:
    """Run the sandbox CLI with single-use tokens; yield its info line; stop it afterwards."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [
        sys.executable, "-m", "airflow_provider_hep.sandbox", "--port", "0",
        "--records", str(records), "--latency-ms", str(latency_ms), "--single-use-tokens",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, text=True, env=env, preexec_fn=_die_with_parent
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"the sandbox did not start: {' '.join(cmd)}")
        info: dict[str, Any] = json.loads(line)
        warm_up(info, start_timeout)
        os.environ.update(connection_env(info))
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def warm_up(info: dict[str, Any], timeout: float) -> None:
    """Make the sandbox generate its collection before anything is timed."""
    token = requests.post(
        info["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
        timeout=timeout,
    )
    token.raise_for_status()
    page = requests.get(
        f"{info['base_url']}/patients",
        params={"$top": "1", "$count": "true"},
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        timeout=timeout,
    )
    page.raise_for_status()
    info["total"] = page.json()["@odata.count"]


def stats(info: dict[str, Any], reset: bool = False) -> dict[str, Any]:
    """Read the sandbox's counters (and reset them, if asked)."""
    root = info["base_url"].split("/api/", 1)[0]
    if reset:
        requests.post(f"{root}/_sandbox/reset", timeout=10).raise_for_status()
        return {}
    answer = requests.get(f"{root}/_sandbox/stats", timeout=30)
    answer.raise_for_status()
    snapshot: dict[str, Any] = answer.json()
    snapshot.pop("tokens", None)
    return snapshot
