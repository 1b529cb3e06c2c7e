"""Run the main job on the embedded default: a SQLite Airflow home plus the HEP sandbox.

Used by `make demo`. It migrates a private Airflow home under .airflow/demo (git-ignored),
starts the sandbox with single-use tokens, runs `airflow dags test hep_incremental_sync` for
one hourly interval, prints what was synced, and stops the sandbox. Rerunning it replaces
that interval's output.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".airflow" / "demo"
LOGICAL_DATE = "2026-01-01T05:00:00+00:00"  # the interval 04:00-05:00 UTC
COLLECTIONS = ("patients", "appointments")


def airflow_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(HOME),
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    return env


def start_sandbox() -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_hep.sandbox",
            "--records",
            "20000",
            "--single-use-tokens",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the sandbox did not start")
    return proc, json.loads(line)


def connection_json(info: dict[str, str]) -> str:
    return json.dumps(
        {
            "conn_type": "sap_hep",
            "host": info["base_url"],
            "login": info["client_id"],
            "password": info["client_secret"],
            "extra": {"auth_url": info["token_url"]},
        }
    )


def run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("w") as handle:
        result = subprocess.run(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT, timeout=600)
    if result.returncode != 0:
        print(log.read_text()[-4000:])
        raise SystemExit(f"{' '.join(cmd[2:5])} failed; full log: {log}")


def print_table(started: float) -> None:
    rows = [("collection", "records", "pages", "seconds", "output")]
    for name in COLLECTIONS:
        folder = HOME / "hep-lake" / name / "start=20260101T040000"
        manifest = json.loads((folder / "_manifest.json").read_text())
        rows.append(
            (
                name,
                str(manifest["records"]),
                str(manifest["pages"]),
                f"{manifest['seconds']:.2f}",
                str(folder),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print(
        f"\nDone in {time.monotonic() - started:.0f} s. "
        "Each folder holds _manifest.json and the parts it lists."
    )


def main() -> int:
    started = time.monotonic()
    HOME.mkdir(parents=True, exist_ok=True)
    env = airflow_env()
    airflow = [sys.executable, "-m", "airflow"]
    print("Migrating the demo Airflow home (SQLite) ...")
    run([*airflow, "db", "migrate"], env, HOME / "migrate.log")
    sandbox, info = start_sandbox()
    try:
        print(
            f"Sandbox at {info['base_url']} (single-use tokens). Running hep_incremental_sync ..."
        )
        env["AIRFLOW_CONN_SAP_HEP_DEFAULT"] = connection_json(info)
        run(
            [*airflow, "dags", "test", "hep_incremental_sync", LOGICAL_DATE],
            env,
            HOME / "dags-test.log",
        )
        stats_url = info["base_url"].split("/api/")[0] + "/_sandbox/stats"
        with urllib.request.urlopen(stats_url, timeout=30) as answer:  # noqa: S310 - loopback
            stats = json.loads(answer.read())
    finally:
        sandbox.send_signal(signal.SIGTERM)
        sandbox.wait(timeout=30)
    print()
    print_table(started)
    if stats:  # pragma: no branch
        print(
            f"Sandbox: {stats['api_calls']} API calls, {stats['token_requests']} token requests "
            f"(max {stats['calls_per_token']['max']} call per token)."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
