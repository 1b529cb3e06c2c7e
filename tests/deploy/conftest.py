"""Start one distributed Airflow deployment for this folder's tests, and always tear it down.

Nothing starts at import time: `make dags` collects this folder and deselects it. Without
PostgreSQL, Redis or the `deploy` extra the tests skip with the reason shown (`make test-deploy`
runs pytest with -rs); with HEP_REQUIRE_SERVICES=1 (CI) they fail instead.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from deploy.leaks import scan_deployment
from deploy.scenario import Deployment, Evidence
from deploy.services import REQUIRED, missing_services

HERE = Path(__file__).parent
# The whole scenario, from CREATE DATABASE to the last run's end; teardown comes on top.
BUDGET_SECONDS = 330


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deploy: runs the example DAGs on PostgreSQL, Redis and Celery workers"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder as a deployment test (`make test-deploy`)."""
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.deploy)


def _say(config: pytest.Config, text: str) -> None:
    """Write to the terminal now, past pytest's output capture (also in a fixture's teardown)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(text)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="module")
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Evidence]:
    """Run the scenario once for the module; yield its evidence; tear down even on failure."""
    problems = missing_services()
    if problems:
        message = "deployment test needs " + "; ".join(problems)
        if REQUIRED:
            pytest.fail(f"HEP_REQUIRE_SERVICES=1: {message}", pytrace=False)
        _say(request.config, f"\nNOTICE: skipping the deployment test: {message}")
        pytest.skip(message)
    failed_before = request.session.testsfailed
    deployment = Deployment(tmp_path_factory.mktemp("deploy"), BUDGET_SECONDS)
    ok = False
    try:
        with _sigterm_as_interrupt():  # `timeout` sends SIGTERM: still tear everything down
            evidence = deployment.run()
        ok = True
    finally:
        if not ok:
            _say(
                request.config,
                f"\ndeployment failed; component output tails:\n{deployment.tails()}",
            )
        teardown = deployment.close()
    # After teardown: every process has flushed and closed its log files.
    stats = evidence.sandbox_stats
    evidence.leaks = scan_deployment(
        evidence.home, evidence.client_id, evidence.client_secret, stats["tokens"]
    )
    yield evidence
    if request.session.testsfailed > failed_before:
        _say(request.config, f"\ncomponent output tails:\n{deployment.tails()}")
    _say(request.config, "\n" + summary(evidence, teardown))


def summary(evidence: Evidence, teardown: list[str]) -> str:
    """Return the timing and diagnostic summary printed after the tests."""
    timings = ", ".join(f"{phase} at {at}s" for phase, at in evidence.timings.items())
    tis = [ti for tis in evidence.task_instances.values() for ti in tis]
    hosts = {
        h: sum(ti["hostname"] == h for ti in tis) for h in sorted({t["hostname"] for t in tis})
    }
    runs = {dag: [r["state"] for r in runs] for dag, runs in evidence.runs.items()}
    stats = evidence.sandbox_stats
    lines = [
        f"deploy summary ({time.strftime('%H:%M:%S')}): {timings}",
        f"  runs: {runs}",
        f"  task instances per hostname: {hosts}",
        f"  sandbox: {stats.get('api_calls')} API calls, {stats.get('tokens_issued')} tokens, "
        f"max calls per token {stats.get('calls_per_token', {}).get('max')}",
        *(
            f"  leak scan of {name}: {r.files} files, {r.lines} lines, {len(r.leaks)} leaks, "
            f"{len(r.excused)} excused MaskSecret(value=...) lines"
            for name, r in evidence.leaks.items()
        ),
        f"  home (logs, output): {evidence.home}",
        *(f"  teardown: {line}" for line in teardown),
    ]
    return "\n".join(lines)
