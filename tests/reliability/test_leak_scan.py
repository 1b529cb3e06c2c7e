"""Scan real Airflow output at DEBUG for secrets, access tokens and patient data.

The example DAGs run at ``AIRFLOW__LOGGING__LOGGING_LEVEL=DEBUG`` three ways: dag.test() in
this process (stdout/stderr via capfd, stdlib records via caplog), ``airflow dags test`` and
``airflow tasks test`` as subprocesses of the session's Airflow home and DB. Then the metadata
DB is read: XComs, rendered template fields, trigger rows and trigger events (``next_kwargs``),
and finally every text value of every table.

Looked for: the client secret, the Basic header value, every access token the sandbox issued,
and the last name, MRN and e-mail of every patient. Expected: zero findings.

One line pattern is excluded, exactly: Airflow's own in-process supervisor comms
(``InProcessSupervisorComms.send``, used by dag.test(), ``airflow dags test`` and ``airflow tasks
test``) logs ``Sending request ... msg=MaskSecret(value='...')`` at DEBUG, which prints every
value registered with the masker. That is Airflow's, not ours; see docs/reliability.md.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hep_testing import WINDOW_END, ids_via_manifest

from airflow_provider_hep.auth import basic_credentials
from airflow_provider_hep.sandbox import HepSandbox

pytestmark = pytest.mark.dags

LOGICAL_DATE = "2026-01-01T05:00:00+00:00"
# Airflow's own DEBUG line (airflow/sdk/execution_time/supervisor.py, InProcessSupervisorComms).
UPSTREAM_MASK_LINE = re.compile(
    r"\[debug\s*\] Sending request\s+loc=supervisor\.py:\d+ msg=MaskSecret\(value="
)
DAG_IDS = ("hep_incremental_sync", "hep_api_calls", "hep_connection_check", "hep_leak_scan")
CLI_TIMEOUT = 240
LEVEL_ENV = "AIRFLOW__LOGGING__LOGGING_LEVEL"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Iterator[HepSandbox]:
    """One sandbox for the module, so the DB scan knows every token any run was issued."""
    sb = HepSandbox(600, single_use_tokens=True).start()
    root = tmp_path_factory.mktemp("leak")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sb.conn_json())
        patch.setenv("HEP_LEAK_ROOT", str(root / "leak-dag"))
        patch.setenv("AIRFLOW_VAR_HEP_SYNC_DESTINATION", str(root / "lake"))
        yield sb
    sb.stop()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Configure Airflow's logging back to the session's level after the test.

    List it before ``capfd``: it is then torn down after capfd, so the handlers it rebuilds
    write to pytest's own streams, not to capfd's closed ones.
    """
    before = os.environ.get(LEVEL_ENV)
    yield
    if before is None:
        os.environ.pop(LEVEL_ENV, None)
    else:
        os.environ[LEVEL_ENV] = before
    from airflow.logging_config import configure_logging

    configure_logging()


def debug_logging() -> None:
    """Switch this process to DEBUG, as AIRFLOW__LOGGING__LOGGING_LEVEL=DEBUG at start would.

    Airflow reads the level when it configures logging (on import); this process imported it
    before the test, so logging is configured again, now writing to capfd's streams.
    """
    from airflow.logging_config import configure_logging

    os.environ[LEVEL_ENV] = "DEBUG"
    configure_logging()


def needles(sandbox: HepSandbox) -> dict[str, str]:
    """Name every value that must not appear: secrets, every issued token, patient fields."""
    found = {
        "client secret": sandbox.client_secret,
        "Basic header value": basic_credentials(sandbox.client_id, sandbox.client_secret),
    }
    stats = sandbox.stats
    assert stats["tokens"], "no token was issued, so this scan would prove nothing"
    found.update({f"access token #{i}": token for i, token in enumerate(stats["tokens"])})
    for patient in sandbox.records("patients"):
        for field in ("lastName", "mrn", "email"):
            found[f"patient {patient['id']} {field}"] = patient[field]
    return found


def scan(text: str, wanted: dict[str, str], source: str) -> tuple[list[str], int]:
    """Return the findings (what, where; never the value) and the count of excluded lines."""
    findings, excluded = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if UPSTREAM_MASK_LINE.search(line):
            excluded += 1
            continue
        findings += [f"{what} in {source} line {number}" for what, v in wanted.items() if v in line]
    return findings, excluded


def cli(*args: str, timeout: int = CLI_TIMEOUT) -> str:
    """Run the airflow CLI at DEBUG with this session's environment; return stdout + stderr."""
    env = {**os.environ, LEVEL_ENV: "DEBUG"}
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


@pytest.fixture(scope="module")
def cli_runs(sandbox, airflow_db) -> dict[str, str]:
    """Run `airflow dags test` and `airflow tasks test` once for the module."""
    return {
        "airflow dags test hep_leak_scan": cli("dags", "test", "hep_leak_scan", LOGICAL_DATE),
        "airflow tasks test hep_incremental_sync sync": cli(
            "tasks", "test", "hep_incremental_sync", "sync", LOGICAL_DATE, "--map-index", "0"
        ),
        "airflow tasks test hep_api_calls list_patients": cli(
            "tasks", "test", "hep_api_calls", "list_patients", LOGICAL_DATE
        ),
    }


def assert_no_findings(text: str, sandbox: HepSandbox, source: str) -> int:
    assert "[debug" in text, f"{source} was not at DEBUG level, so this scan would prove little"
    findings, excluded = scan(text, needles(sandbox), source)
    assert findings == []
    return excluded


@pytest.fixture
def stored_trigger_data() -> Iterator[list[str]]:
    """Record what is written to the DB for deferrals: trigger rows and trigger events.

    A trigger event lives in ``task_instance.next_kwargs`` only until the task resumes, so
    it is captured as it is written (an ORM event), not read afterwards.
    """
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from sqlalchemy import event

    stored: list[str] = []

    def on_task_instance(mapper, connection, target) -> None:  # type: ignore[no-untyped-def]
        if target.next_kwargs:
            stored.append(json.dumps(target.next_kwargs, default=str))

    def on_trigger(mapper, connection, target) -> None:  # type: ignore[no-untyped-def]
        stored.append(json.dumps(target.kwargs, default=str))

    listeners = [
        (TaskInstance, "after_update", on_task_instance),
        (TaskInstance, "after_insert", on_task_instance),
        (Trigger, "after_insert", on_trigger),
    ]
    for listener in listeners:
        event.listen(*listener)
    yield stored
    for listener in listeners:
        event.remove(*listener)


def test_dag_test_in_process_at_debug_prints_no_secret_token_or_patient_data(
    restore_logging, capfd, caplog, sandbox, load_dag, stored_trigger_data
):
    debug_logging()
    caplog.set_level(logging.DEBUG)
    sync = load_dag("hep_incremental_sync.py", "hep_incremental_sync")
    api_calls = load_dag("hep_api_calls.py", "hep_api_calls")
    api_calls.get_task("wait_for_export").poke_interval = 0.2
    check = load_dag("hep_connection_check.py", "hep_connection_check")
    assert sync.test(logical_date=WINDOW_END).state == "success"
    assert api_calls.test(logical_date=WINDOW_END).state == "success"
    assert check.test(logical_date=WINDOW_END).state == "success"

    output = "".join(capfd.readouterr())
    excluded = assert_no_findings(output, sandbox, "dag.test() stdout/stderr")
    assert excluded > 0  # the upstream line is real here; see the next test
    assert_no_findings("[debug]\n" + caplog.text, sandbox, "dag.test() log records")
    # The deferrable sensor's trigger event, as stored in the DB while the task was deferred.
    assert any('"polls"' in row for row in stored_trigger_data), stored_trigger_data
    assert scan("\n".join(stored_trigger_data), needles(sandbox), "trigger events")[0] == []


def test_the_only_excluded_lines_are_airflows_own_mask_secret_messages(
    restore_logging, capfd, sandbox, load_dag
):
    debug_logging()
    check = load_dag("hep_connection_check.py", "hep_connection_check")
    assert check.test(logical_date=WINDOW_END).state == "success"
    lines = "".join(capfd.readouterr()).splitlines()
    upstream = [line for line in lines if UPSTREAM_MASK_LINE.search(line)]
    assert upstream, "the upstream line no longer appears: drop the exclusion and the doc note"
    assert all("msg=MaskSecret(value=" in line for line in upstream)
    # The positive control: the scan does find the secret, in exactly those lines.
    assert any(sandbox.client_secret in line for line in upstream)
    assert scan("\n".join(upstream), needles(sandbox), "upstream")[0] == []
    everywhere = [line for line in lines if sandbox.client_secret in line]
    assert everywhere == [line for line in upstream if sandbox.client_secret in line]


def test_airflow_dags_test_at_debug_prints_no_secret_token_or_patient_data(sandbox, cli_runs):
    source = "airflow dags test hep_leak_scan"
    output = cli_runs[source]
    assert "DagRun Finished: dag_id=hep_leak_scan" in output
    assert "state=success" in output
    assert_no_findings(output, sandbox, source)


def test_airflow_tasks_test_at_debug_prints_no_secret_token_or_patient_data(sandbox, cli_runs):
    for source in (
        "airflow tasks test hep_incremental_sync sync",
        "airflow tasks test hep_api_calls list_patients",
    ):
        assert_no_findings(cli_runs[source], sandbox, source)
    lake = Path(os.environ["AIRFLOW_VAR_HEP_SYNC_DESTINATION"])
    assert ids_via_manifest(lake / "patients" / "start=20260101T040000")


def db_rows(model, attribute: str) -> list[str]:
    """Return one attribute of every row of our DAGs (trigger rows have no dag id) as text.

    Objects are loaded, so a property such as ``Trigger.kwargs`` (decrypted) is read too.
    """
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        query = select(model)
        if hasattr(model, "dag_id"):
            query = query.where(model.dag_id.in_(DAG_IDS))
        return [json.dumps(getattr(row, attribute), default=str) for row in session.scalars(query)]


def test_the_metadata_db_holds_no_secret_token_or_patient_data(sandbox, cli_runs, airflow_db):
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.models.xcom import XComModel

    wanted = needles(sandbox)
    xcoms = db_rows(XComModel, "value")
    rendered = db_rows(RenderedTaskInstanceFields, "rendered_fields")
    # Trigger events stay in next_kwargs only while a task is deferred (the in-process test
    # captures them as they are written); trigger rows exist only with a real triggerer.
    events = [row for row in db_rows(TaskInstance, "next_kwargs") if row != "null"]
    triggers = db_rows(Trigger, "kwargs")
    assert len(xcoms) >= 6  # the manifest, ids, a message id, an export id, a checked value...
    assert any('"done"' in row for row in xcoms)  # the sensor returned the checked value
    assert len(rendered) >= 6
    findings = []
    for source, rows in [
        ("xcom", xcoms),
        ("rendered_task_instance_fields", rendered),
        ("task_instance.next_kwargs (trigger events)", events),
        ("trigger.kwargs", triggers),
    ]:
        findings += scan("\n".join(rows), wanted, source)[0]
    assert findings == []


def test_no_table_of_the_metadata_db_holds_a_secret_token_or_patient_data(sandbox, cli_runs):
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert url.startswith("sqlite:///")
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        dump = "\n".join(db.iterdump())
    assert "hep_leak_scan" in dump
    assert scan(dump, needles(sandbox), "metadata DB dump")[0] == []


def test_a_deferrable_call_keeps_patient_data_out_of_its_stored_trigger_event(
    sandbox, load_dag, stored_trigger_data
):
    dag = load_dag("hep_leak_scan.py", "hep_leak_scan_deferred_call")
    assert dag.test(logical_date=WINDOW_END).state == "success"
    assert stored_trigger_data, "the deferred call's event should have been stored"
    assert scan("\n".join(stored_trigger_data), needles(sandbox), "trigger events")[0] == []
