"""Start and stop a distributed Airflow: one process group per component, one shared config."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")


def free_port() -> int:
    """Return a loopback port that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 1.0) -> Any:
    """Call ``check`` until it returns something truthy; raise TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as exc:  # not up yet: connection refused, 404 ...
            last = exc
        else:
            if result:
                return result
        time.sleep(every)
    raise TimeoutError(f"gave up after {timeout:.0f}s waiting for {what} (last error: {last!r})")


@dataclass
class Process:
    """One component: its own process group, its own output file."""

    name: str
    popen: subprocess.Popen
    output: Path

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.output.read_text(errors="replace")
        except OSError as exc:
            return f"<no output: {exc}>"
        # Workers and triggerer log at DEBUG; a failure report wants their info and above.
        kept = [line for line in text.splitlines() if "[debug" not in line]
        return "\n".join(kept[-lines:])


@dataclass
class Cluster:
    """The shared configuration of every Airflow process, and the processes started with it."""

    home: Path
    sql_alchemy_conn: str
    broker_url: str
    result_backend: str
    api_port: int = field(default_factory=free_port)
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.dags = self.home / "dags"
        self.logs = self.home / "logs"
        self.outputs = self.home / "process-output"
        self.callables = self.home / "callables"
        for folder in (self.dags, self.logs, self.outputs, self.callables):
            folder.mkdir(parents=True, exist_ok=True)
        for dag_file in REPO.glob("dags/*.py"):
            shutil.copy2(dag_file, self.dags / dag_file.name)
        self.fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode()
        self.jwt_secret = secrets.token_urlsafe(64)  # HS512 wants 64 bytes or more
        self.api_secret = secrets.token_urlsafe(64)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Return the environment every component shares (plus ``extra``).

        Starts from the caller's environment without any AIRFLOW* variable, so nothing of the
        pytest session's own SQLite home (tests/conftest.py) leaks in.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "PYTHONPATH": str(self.callables),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_alchemy_conn,
                "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": self.result_backend,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__SECRET_KEY": self.api_secret,
                "AIRFLOW__API_AUTH__JWT_SECRET": self.jwt_secret,
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs),
                "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(extra or {})
        return env

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run one airflow CLI command to completion with the shared environment."""
        return subprocess.run(
            [AIRFLOW, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def hostname_callable(self, module: str, hostname: str) -> str:
        """Write a module whose ``get()`` returns ``hostname``; return its dotted path."""
        (self.callables / f"{module}.py").write_text(
            f'"""The [core] hostname_callable of one worker."""\n\n\n'
            f"def get() -> str:\n    return {hostname!r}\n"
        )
        return f"{module}.get"

    def start(
        self, name: str, argv: list[str], extra_env: Mapping[str, str] | None = None
    ) -> Process:
        """Start ``argv`` in a new session (its own process group), output to a file."""
        output = self.outputs / f"{name}.log"
        with output.open("wb") as sink:
            popen = subprocess.Popen(
                argv,
                env=self.env(extra_env),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, popen, output)
        self.processes.append(process)
        return process

    def start_airflow(
        self, name: str, *args: str, extra_env: Mapping[str, str] | None = None
    ) -> Process:
        """Start ``airflow <args>`` as the component ``name``."""
        return self.start(name, [AIRFLOW, *args], extra_env)

    def check_alive(self) -> None:
        """Raise if any component exited (a crash would otherwise look like a slow run)."""
        dead = [p for p in self.processes if p.popen.poll() is not None]
        if dead:
            names = ", ".join(f"{p.name} (exit {p.popen.returncode})" for p in dead)
            raise RuntimeError(f"component(s) exited early: {names}")

    def stop(self, grace: float = 20.0) -> list[str]:
        """SIGTERM every process group, then SIGKILL what is left; return a line per process."""
        for process in self.processes:
            _signal_group(process.popen, signal.SIGTERM)
        deadline = time.monotonic() + grace
        report = []
        for process in self.processes:
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
                how = "SIGTERM"
            except subprocess.TimeoutExpired:
                how = "SIGKILL"
            # The leader may be gone while children (task supervisors, pool processes) linger.
            _signal_group(process.popen, signal.SIGKILL)
            process.popen.wait(10)
            report.append(f"{process.name}: pid {process.popen.pid} stopped by {how}")
        return report


def _signal_group(popen: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(popen.pid, sig)  # start_new_session: the group id is the leader's pid


def start_sandbox(
    cluster: Cluster, records: int, client_secret: str, latency_ms: float = 0
) -> tuple[Process, dict]:
    """Start the HEP sandbox CLI with single-use tokens; return it and its JSON line."""
    argv = [sys.executable, "-m", "airflow_provider_hep.sandbox", "--port", "0"]
    argv += ["--single-use-tokens", "--records", str(records), "--client-secret", client_secret]
    argv += ["--latency-ms", str(latency_ms)]
    process = cluster.start("sandbox", argv)
    line = wait_until(lambda: _first_line(process.output), 60, "the sandbox's JSON line", 0.2)
    return process, json.loads(line)


def _first_line(path: Path) -> str | None:
    """Return the sandbox's JSON line once it is complete (warnings may share the file)."""
    lines = path.read_text().splitlines(keepends=True)
    return next((ln for ln in lines if ln.startswith("{") and ln.endswith("\n")), None)
