"""Run the example DAGs on a distributed Airflow and collect what the assertions need.

One machine plays a whole deployment: PostgreSQL (metadata DB and Celery result backend),
Redis (Celery broker), an API server, a scheduler, a DAG processor, a triggerer and two Celery
workers, each in its own process group. The workers share one machine, so a local folder
stands in for the object store that workers on different machines would share.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from deploy.cluster import Cluster, Process, free_port, start_sandbox, wait_until
from deploy.leaks import LeakReport
from deploy.rest import AirflowApi
from deploy.services import Database, RedisDb

SYNC_DAG, API_DAG = "hep_incremental_sync", "hep_api_calls"
COLLECTIONS = ("patients", "appointments")
# Two hourly intervals of the sync DAG (2 collections each: 4 mapped task instances) and one
# daily interval of the API DAG. Logical dates, so that each run has a data interval.
SYNC_LOGICAL_DATES = ("2026-01-01T05:00:00Z", "2026-01-01T06:00:00Z")
API_LOGICAL_DATE = "2026-01-02T00:00:00Z"
WORKERS = ("worker-a", "worker-b")
TERMINAL = {"success", "failed"}
# Each sandbox answer waits this long, so that one mapped sync task lasts seconds, not half of
# one: while a worker (concurrency 1) runs it, the next queued one must go to the other worker.
SANDBOX_LATENCY_MS = 250
# Workers and triggerer log at DEBUG, so the leak scan also covers what a debugging admin sees.
DEBUG_LOGGING = {"AIRFLOW__LOGGING__LOGGING_LEVEL": "DEBUG"}


@dataclass
class Evidence:
    """What the deployment did, gathered before it is torn down."""

    home: Path
    lake: Path
    client_id: str = ""
    client_secret: str = ""
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    task_instances: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    states_seen: dict[tuple[str, str, str, int], set[str]] = field(default_factory=dict)
    triggerer_job_ids: set[int] = field(default_factory=set)
    sandbox_stats: dict[str, Any] = field(default_factory=dict)
    truth: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    asset_events: list[dict[str, Any]] = field(default_factory=list)
    leaks: dict[str, LeakReport] = field(default_factory=dict)

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def all_task_instances(self, dag_id: str) -> list[dict[str, Any]]:
        return [ti for (dag, _), tis in self.task_instances.items() if dag == dag_id for ti in tis]


class Deployment:
    """Own every resource of one run of the scenario, and release each one in ``close()``."""

    def __init__(self, home: Path, budget_seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + budget_seconds
        # Named and claimed here, created in run(): close() can release whatever run() made.
        self.database = Database.named()
        self.redis = RedisDb.claim()
        self.cluster = Cluster(
            home,
            self.database.sqlalchemy_url,
            self.redis.url,
            self.database.celery_result_backend,
        )
        self.evidence = Evidence(home=home, lake=home / "shared-lake")
        self.sandbox: Process | None = None
        self.sandbox_info: dict[str, str] = {}
        self.sandbox_url = ""
        self.api = AirflowApi(self.cluster.api_url)

    def remaining(self, at_most: float) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the deployment test ran out of its time budget")
        return min(at_most, left)

    def mark(self, phase: str) -> None:
        self.evidence.timings[phase] = round(time.monotonic() - self.started, 1)

    def run(self) -> Evidence:
        """Create the database, migrate, start, configure, trigger, wait, collect."""
        self.database.create()
        self.redis.flush()
        self.migrate()
        self.start_components()
        self.configure_like_an_admin()
        # The sync runs first, on two idle workers: their mapped tasks are queued together and
        # outlast a pickup, so both workers get some. (Started alongside the API DAG, a worker
        # busy with its tasks could leave every short sync task to the other one.)
        self.trigger_runs(SYNC_DAG, SYNC_LOGICAL_DATES)
        self.wait_for_runs(SYNC_DAG)
        self.trigger_runs(API_DAG, (API_LOGICAL_DATE,))
        self.wait_for_runs(SYNC_DAG, API_DAG)
        self.collect()
        return self.evidence

    def migrate(self) -> None:
        result = self.cluster.airflow("db", "migrate", timeout=self.remaining(180))
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
        self.mark("migrated")

    def start_components(self) -> None:
        cluster = self.cluster
        self.evidence.client_secret = f"deploy-secret-{secrets.token_hex(12)}"
        self.sandbox, info = start_sandbox(
            cluster, 3000, self.evidence.client_secret, SANDBOX_LATENCY_MS
        )
        self.sandbox_info = info
        self.sandbox_url = info["base_url"].rsplit("/api/", 1)[0]
        cluster.start_airflow(
            "api-server", "api-server", "--host", "127.0.0.1", "--port", str(cluster.api_port),
            "--workers", "1",
        )  # fmt: skip
        cluster.start_airflow("scheduler", "scheduler")
        cluster.start_airflow("dag-processor", "dag-processor")
        trigger_logs = {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        cluster.start_airflow("triggerer", "triggerer", extra_env={**DEBUG_LOGGING, **trigger_logs})
        for hostname in WORKERS:
            self.start_worker(hostname)
        self.wait_until_ready()
        self.mark("components ready")

    def start_worker(self, hostname: str) -> None:
        """Start a Celery worker whose task instances report ``hostname`` (its callable's)."""
        module = hostname.replace("-", "_")
        env = {
            **DEBUG_LOGGING,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": self.cluster.hostname_callable(module, hostname),
            # Two workers on one machine cannot both serve their task logs on port 8793.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        }
        self.cluster.start_airflow(
            hostname, "celery", "worker", "--concurrency", "1",
            "--celery-hostname", f"celery-{hostname}@%h", extra_env=env,
        )  # fmt: skip

    def wait_until_ready(self) -> None:
        def healthy() -> bool:
            self.cluster.check_alive()
            health = self.api.health()
            return all(health[part]["status"] == "healthy" for part in health)

        wait_until(healthy, self.remaining(120), "a healthy API server, scheduler and triggerer")
        self.api.login()

        def parsed() -> bool:
            self.cluster.check_alive()
            return all(self.api.get(f"dags/{dag_id}") for dag_id in (SYNC_DAG, API_DAG))

        wait_until(parsed, self.remaining(120), "the DAG processor to parse the example DAGs")
        for hostname in WORKERS:
            output = self.cluster.outputs / f"{hostname}.log"
            wait_until(
                lambda output=output: " ready." in output.read_text(errors="replace"),
                self.remaining(120),
                f"Celery worker {hostname} to be ready",
            )

    def configure_like_an_admin(self) -> None:
        """Create the connection and the destination Variable through the REST API."""
        info = self.sandbox_info
        self.evidence.client_id = info["client_id"]
        self.api.post(
            "connections",
            {
                "connection_id": "sap_hep_default",
                "conn_type": "sap_hep",
                "host": info["base_url"],
                "login": info["client_id"],
                "password": info["client_secret"],
                "extra": json.dumps({"auth_url": info["token_url"]}),
            },
        )
        # One machine: a local folder both workers see stands in for s3://... or gs://...
        self.api.post(
            "variables", {"key": "hep_sync_destination", "value": str(self.evidence.lake)}
        )

    def trigger_runs(self, dag_id: str, logical_dates: tuple[str, ...]) -> None:
        """Unpause ``dag_id`` and trigger one run per logical date."""
        self.api.patch(f"dags/{dag_id}", {"is_paused": False})
        for logical_date in logical_dates:
            body = {"dag_run_id": f"deploy__{logical_date}", "logical_date": logical_date}
            self.api.post(f"dags/{dag_id}/dagRuns", body)
        self.mark(f"{dag_id} triggered")

    def wait_for_runs(self, *dag_ids: str) -> None:
        """Poll until every run of ``dag_ids`` is finished, noting each task state seen."""

        def finished() -> bool:
            self.cluster.check_alive()
            done = True
            for dag_id in dag_ids:
                runs = self.api.dag_runs(dag_id)
                self.evidence.runs[dag_id] = runs
                for run in runs:
                    if run["state"] not in TERMINAL or (dag_id, run["dag_run_id"]) not in (
                        self.evidence.task_instances
                    ):
                        self.note_task_states(dag_id, run["dag_run_id"])
                    done = done and run["state"] in TERMINAL
            return done and all(self.evidence.runs[dag_id] for dag_id in dag_ids)

        wait_until(finished, self.remaining(300), f"every run of {dag_ids} to finish", every=2.0)
        self.mark(f"{', '.join(dag_ids)} finished")

    def note_task_states(self, dag_id: str, run_id: str) -> None:
        tis = self.api.task_instances(dag_id, run_id)
        self.evidence.task_instances[(dag_id, run_id)] = tis
        for ti in tis:
            key = (dag_id, run_id, ti["task_id"], ti["map_index"])
            self.evidence.states_seen.setdefault(key, set()).add(ti["state"] or "none")

    def collect(self) -> None:
        """Read the final task instances, the triggerer's job ids and the sandbox's view."""
        for (dag_id, run_id), _ in list(self.evidence.task_instances.items()):
            self.note_task_states(dag_id, run_id)
        jobs = self.api.get("jobs", job_type="TriggererJob")["jobs"]
        self.evidence.triggerer_job_ids = {job["id"] for job in jobs}
        events = self.api.get("assets/events", source_dag_id=SYNC_DAG, limit=100)
        self.evidence.asset_events = events["asset_events"]
        self.evidence.sandbox_stats = self.control("stats")
        for run in self.evidence.runs[SYNC_DAG]:
            start, end = run["data_interval_start"], run["data_interval_end"]
            for collection in COLLECTIONS:
                truth = self.control(f"truth/{collection}", start=start, end=end)
                self.evidence.truth[(collection, start, end)] = truth["current"]

    def control(self, action: str, **params: str) -> Any:
        """Ask the sandbox's unauthenticated control plane."""
        response = requests.get(f"{self.sandbox_url}/_sandbox/{action}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()

    def close(self) -> list[str]:
        """Stop every process by its own group, drop the database, flush the broker's db."""
        report = self.cluster.stop()
        self.database.drop()
        report.append(f"database {self.database.name} dropped: {not self.database.exists()}")
        self.redis.flush()
        report.append(f"redis db {self.redis.number} flushed")
        self.mark("torn down")
        return report

    def tails(self, lines: int = 40) -> str:
        """Return the last lines of every component's output, for a failure report."""
        return "\n".join(
            f"----- {p.name} (pid {p.popen.pid}, exit {p.popen.poll()}) -----\n{p.tail(lines)}"
            for p in self.cluster.processes
        )
