"""Start a real Airflow API server, the HEP sandbox and headless Chromium for the UI tests.

Each process runs on a free loopback port and is stopped by its own process id, also when a
test fails. Nothing starts at import time: `make dags` collects this folder and deselects it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts" / "ui"
CHROMIUM = Path(os.environ.get("HEP_CHROMIUM", "/usr/bin/chromium"))
# Debian's Chromium, headless, with nothing that phones home or needs a GPU or a sandbox.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ui`` marker (`make ui`)."""
    config.addinivalue_line("markers", "ui: drives Airflow's web UI in headless Chromium")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as a UI test."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.ui)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def free_port() -> int:
    """Return a loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """Run one command in its own process group, logging to a file; stop it by its id."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its group id is its pid: workers are stopped with it
        )

    def tail(self, chars: int = 4000) -> str:
        """Return the end of the log, for failure messages."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Send SIGTERM to the process group, then SIGKILL if it lingers."""
        try:
            if self.proc.poll() is None:
                self._signal(signal.SIGTERM)
                try:
                    self.proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self._signal(signal.SIGKILL)
                    self.proc.wait(STOP_TIMEOUT)
        finally:
            self._log.close()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it already exited
            os.killpg(self.proc.pid, signum)


class AirflowServer:
    """A running ``airflow api-server`` and the environment its CLI commands share."""

    def __init__(self, url: str, env: dict[str, str], service: Service) -> None:
        self.url = url
        self.env = env
        self.service = service

    def get_json(self, path: str) -> Any:
        """GET a REST path (all users are admins, so no token is needed) and decode it."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.loads(response.read())

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against the same home and metadata DB."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def airflow_env(home: Path, port: int) -> dict[str, str]:
    """Return a hermetic environment: no inherited Airflow settings or connections."""
    from cryptography.fernet import Fernet

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # The Test button stays disabled unless connection testing is enabled.
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            # Store the secret encrypted, as a real deployment does.
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def wait_until_healthy(url: str, service: Service) -> None:
    """Poll the health endpoint until the metadata DB reports healthy, within READY_TIMEOUT."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if service.proc.poll() is not None:
            pytest.fail(f"airflow api-server exited early:\n{service.tail()}")
        try:
            with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=2) as response:
                if json.loads(response.read())["metadatabase"]["status"] == "healthy":
                    return
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            pass
        time.sleep(0.5)
    pytest.fail(f"airflow api-server not healthy after {READY_TIMEOUT:.0f} s:\n{service.tail()}")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Return the git-ignored folder for screenshots and server logs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Return Debian's Chromium, or skip (a failure under HEP_REQUIRE_SERVICES=1)."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: run `make ui` as root "
            "(it runs apt-get install chromium), or set HEP_CHROMIUM"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[ui]' (or run `make ui`)")
    return CHROMIUM


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Any]:
    """Serve the HEP sandbox (token endpoint and API) on a free loopback port."""
    from airflow_provider_hep.sandbox import HepSandbox

    with HepSandbox() as sb:
        yield sb


@pytest.fixture(scope="session")
def airflow_server(
    chromium: Path, artifacts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowServer]:
    """Migrate a fresh SQLite metadata DB, then run ``airflow api-server`` until the session ends."""
    port = free_port()
    env = airflow_env(tmp_path_factory.mktemp("ui-airflow-home"), port)
    migrate = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-3000:]
    argv = [sys.executable, "-m", "airflow", "api-server", "-H", "127.0.0.1", "-p", str(port)]
    service = Service("api-server", [*argv, "--workers", "1"], env, artifacts / "api-server.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url, service)
        yield AirflowServer(url, env, service)
    finally:
        service.stop()


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Any]:
    """Launch headless Chromium through Playwright; close it at the end of the session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Any, artifacts: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Open a tall page (the whole connection dialog fits); screenshot it if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 1700})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        yield page
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            page.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"))
        context.close()
