"""Run the real example sync DAG under dag.test() once per injected fault.

Each fault ends in one of two outcomes:
(a) the output holds exactly the sandbox's truth for the window (ids as sets, and counted);
(b) the run fails clearly, nothing new is published, the previous output is intact, and a
    rerun without the fault gives (a).
The retries each fault costs are asserted exactly where the schedule makes them exact; the
table in docs/reliability.md lists them.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hep_testing import WINDOW, WINDOW_END, ids_via_glob, ids_via_manifest, manifest

from airflow_provider_hep.exceptions import HepTransportError
from airflow_provider_hep.hooks import transport as transport_module
from airflow_provider_hep.hooks.hep import HepHook

pytestmark = pytest.mark.dags

COLLECTIONS = ("patients", "appointments")
EXAMPLE = ("hep_incremental_sync.py", "hep_incremental_sync")


@pytest.fixture
def sandbox(hep_sandbox_factory, monkeypatch):
    """A sandbox with small pages (so every window slice has a next link) and 1-use tokens."""
    sb = hep_sandbox_factory(records=3000, page_size=5, single_use_tokens=True)
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sb.conn_json())
    return sb


@pytest.fixture
def example(load_dag):
    return load_dag(*EXAMPLE)


@pytest.fixture
def sleeps(monkeypatch):
    """Record every backoff wait, and still wait (the Retry-After values are ~1 s)."""
    waited: list[float] = []

    def sleep(seconds: float) -> None:
        waited.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(transport_module, "_sleep", sleep)
    return waited


def run_example(dag, root: Path):
    return dag.test(logical_date=WINDOW_END, run_conf={"destination_root": str(root)})


def folder(root: Path, collection: str) -> Path:
    return root / collection / "start=20260101T040000"


def tries(dag_run) -> dict[int, tuple[str, int]]:
    return {ti.map_index: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}


def assert_exact(sandbox, root: Path) -> int:
    """Assert outcome (a) for both collections; return the HTTP retries the manifests record."""
    retries = 0
    for collection in COLLECTIONS:
        out = folder(root, collection)
        truth = sandbox.truth(collection, *WINDOW)["current"]
        ids = ids_via_manifest(out)
        assert set(ids) == set(truth), collection
        assert len(ids) == len(truth) == manifest(out)["records"] > 0, collection
        assert sorted(ids_via_glob(out)) == sorted(truth), collection  # nothing superseded left
        retries += manifest(out)["retries"]
    return retries


def snapshot(root: Path) -> dict[str, bytes]:
    """Read every file under ``root``: a failed run must leave this unchanged."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def assert_single_use(sandbox) -> None:
    stats = sandbox.stats
    assert stats["calls_per_token"]["max"] == 1
    assert stats["calls_per_token"]["tokens_used"] == stats["api_calls_ok"]


# --- (a): transient faults are absorbed by retries, the output is exact ----------------------


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_a_transient_5xx_is_retried_and_the_output_is_exact(
    example, sandbox, tmp_path, sleeps, status
):
    sandbox.set_faults(f"{status}:every=7:max=3")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    assert tries(run) == {0: ("success", 1), 1: ("success", 1)}
    assert sandbox.stats["faults_injected"] == {status: 3}
    assert assert_exact(sandbox, tmp_path) == 3 == len(sleeps)
    assert_single_use(sandbox)


@pytest.mark.parametrize("retry_after", ["1", "date"])
def test_a_429_waits_for_retry_after_and_the_output_is_exact(
    example, sandbox, tmp_path, sleeps, retry_after
):
    sandbox.set_faults(f"429:every=9:max=2:retry_after={retry_after}")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    assert assert_exact(sandbox, tmp_path) == 2 == sandbox.stats["faults_injected"]["429"]
    if retry_after == "1":
        assert sleeps == [1.0, 1.0]
    else:  # an HTTP-date about 1.5 s ahead, at one-second resolution
        assert len(sleeps) == 2
        assert all(0.0 <= s <= 2.0 for s in sleeps), sleeps


def test_a_connection_reset_mid_body_is_retried_and_the_output_is_exact(
    example, sandbox, tmp_path, sleeps
):
    sandbox.set_faults("reset:every=6:max=3")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    assert sandbox.stats["faults_injected"] == {"reset": 3}
    assert assert_exact(sandbox, tmp_path) == 3


def test_a_read_timeout_is_retried_and_the_output_is_exact(
    example, sandbox, tmp_path, sleeps, monkeypatch
):
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sandbox.conn_json(timeout=1.5))
    sandbox.set_faults("delay:every=8:max=2:seconds=2.5")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    assert sandbox.stats["faults_injected"] == {"delay": 2}
    assert assert_exact(sandbox, tmp_path) == 2


def test_a_token_endpoint_failing_its_first_requests_is_retried_and_the_output_is_exact(
    example, sandbox, tmp_path, sleeps
):
    sandbox.set_faults("token_fail:first=3:retry_after=0")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    assert tries(run) == {0: ("success", 1), 1: ("success", 1)}
    assert assert_exact(sandbox, tmp_path) == 3 == sandbox.stats["faults_injected"]["token_fail"]


def test_a_token_endpoint_down_longer_than_the_http_retries_costs_one_task_retry(
    example, sandbox, tmp_path, sleeps
):
    # 1 + 5 retries of the first token request all fail: the first try fails, the second works.
    sandbox.set_faults("token_fail:first=6:retry_after=0")
    for task in example.tasks:
        task.partial_kwargs["max_concurrency"] = 1  # one token request at a time: exact counts
    run = run_example(example, tmp_path)
    assert run.state == "success"
    # dag.test() runs the mapped tasks in no set order: whichever runs first takes the fault.
    assert sorted(tries(run).values()) == [("success", 1), ("success", 2)]
    assert sandbox.stats["faults_injected"] == {"token_fail": 6}
    assert len(sleeps) == 5
    assert assert_exact(sandbox, tmp_path) == 0  # the manifest counts the successful try only


def test_tokens_revoked_mid_run_are_replaced_once_and_the_output_is_exact(
    example, sandbox, tmp_path, sleeps
):
    sandbox.set_faults("revoke:at=10")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    assert tries(run) == {0: ("success", 1), 1: ("success", 1)}
    stats = sandbox.stats
    assert stats["faults_injected"] == {"revoke": 1}
    assert 1 <= stats["auth_failures"] <= 4  # the revoking call, plus calls in flight (4 workers)
    assert assert_exact(sandbox, tmp_path) == 0  # a 401 replay is a re-authentication, no retry


def test_one_malformed_page_fails_one_try_and_the_task_retry_gives_the_exact_output(
    example, sandbox, tmp_path, sleeps
):
    sandbox.set_faults("malformed:path=/api/v1/patients:at=5:max=1")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    assert tries(run) == {0: ("success", 2), 1: ("success", 1)}
    assert assert_exact(sandbox, tmp_path) == 0
    assert len(list(folder(tmp_path, "patients").glob("_runs/*"))) == 1  # try 1's parts are gone


def test_concurrent_modification_loses_no_unmodified_record_and_a_rerun_is_exact(
    example, sandbox, tmp_path, sleeps
):
    sandbox.set_faults("modify:every=2:count=3")
    run = run_example(example, tmp_path)
    assert run.state == "success"
    for collection in COLLECTIONS:
        truth = sandbox.truth(collection, *WINDOW)
        assert truth["modified"], "the fault must modify records, or this proves nothing"
        ids = ids_via_manifest(folder(tmp_path, collection))
        assert len(ids) == len(set(ids)), collection
        assert set(truth["unmodified"]) <= set(ids) <= set(truth["original"]), collection
    sandbox.clear_faults()
    assert run_example(example, tmp_path).state == "success"
    assert_exact(sandbox, tmp_path)


# --- (b): persistent faults fail the run cleanly; a rerun without them is exact --------------


@pytest.fixture
def no_waits(monkeypatch):
    """Record backoff waits without waiting: a fault that never clears costs 5 waits a call."""
    waited: list[float] = []
    monkeypatch.setattr(transport_module, "_sleep", waited.append)
    return waited


def patient_events() -> int:
    """Count the Asset events published for the patients collection."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        query = (
            select(func.count(AssetEvent.id))
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == "hep://sap-hep-default/patients")
        )
        return int(session.scalar(query) or 0)


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        (
            "malformed:path=/api/v1/patients:every=3",
            r"HepPaginationError: page \d+ of /api/v1/patients is not valid JSON \(HTTP 200\)",
        ),
        (
            "foreign_next:path=/api/v1/patients:every=1",
            r"HepPaginationError: page \d+ of /api/v1/patients: refusing a next link to host "
            r"evil\.example\.invalid:\d+: "
            "the access token must not be sent to another host",
        ),
        (
            "500:path=/api/v1/patients:every=1",
            r"HepApiError: HEP API answered 500 to GET /api/v1/patients: ",
        ),
    ],
    ids=["malformed-json-on-every-third-page", "next-link-to-a-foreign-host", "500-forever"],
)
def test_a_persistent_fault_fails_cleanly_keeping_the_previous_output(
    example, sandbox, tmp_path, no_waits, spec, error, capfd
):
    assert run_example(example, tmp_path).state == "success"
    patients = folder(tmp_path, "patients")
    before, events = snapshot(patients), patient_events()
    assert events >= 1

    sandbox.set_faults(spec)
    failed = run_example(example, tmp_path)
    assert failed.state == "failed"
    assert tries(failed) == {0: ("failed", 3), 1: ("success", 1)}  # 1 try + 2 retries
    assert len(re.findall(error, "".join(capfd.readouterr()))) >= 3  # each try names the fault
    assert snapshot(patients) == before  # nothing new published, the previous output intact
    assert patient_events() == events
    assert all("evil" not in path for path in sandbox.stats["requests_by_path"])

    sandbox.clear_faults()
    assert run_example(example, tmp_path).state == "success"
    assert_exact(sandbox, tmp_path)
    assert len(list(patients.glob("_runs/*"))) == 1
    assert patient_events() == events + 1


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("403:path=/api/v1/patients:every=1", r"HEP API answered 403 to GET /api/v1/patients"),
        ("404:path=/api/v1/patients:every=1", r"HEP API answered 404 to GET /api/v1/patients"),
    ],
    ids=["403", "404"],
)
def test_a_fault_no_retry_can_fix_fails_the_sync_at_once_keeping_the_output(
    example, sandbox, tmp_path, no_waits, spec, error, capfd
):
    assert run_example(example, tmp_path).state == "success"
    patients = folder(tmp_path, "patients")
    before = snapshot(patients)
    sandbox.set_faults(spec)
    failed = run_example(example, tmp_path)
    assert tries(failed) == {0: ("failed", 1), 1: ("success", 1)}  # retries=2, none used
    output = "".join(capfd.readouterr())
    assert re.search(error + r".*retrying cannot fix this", output)
    assert snapshot(patients) == before


def test_a_rejected_client_fails_every_sync_task_at_once(
    example, sandbox, tmp_path, no_waits, monkeypatch, capfd
):
    conn = json.loads(sandbox.conn_json())
    conn["password"] = "not-the-secret-8152"
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
    failed = run_example(example, tmp_path)
    assert tries(failed) == {0: ("failed", 1), 1: ("failed", 1)}
    output = "".join(capfd.readouterr())
    assert "invalid_client" in output
    assert "check the connection's Client ID and Client Secret" in output
    assert "not-the-secret-8152" not in output
    assert sandbox.stats["requests_by_path"].get("/api/v1/patients", 0) == 0
    assert not list(tmp_path.rglob("part-*"))


# --- A POST whose answer times out is applied once --------------------------------------------


def test_a_post_whose_answer_times_out_is_not_sent_again(sandbox, monkeypatch, sleeps):
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sandbox.conn_json(timeout=1))
    sandbox.set_faults("delay:path=/api/v1/messages:method=POST:max=1:seconds=2")
    hook = HepHook()
    with pytest.raises(
        HepTransportError,
        match=r"POST /api/v1/messages failed after 1 attempt\(s\): no answer before the read",
    ):
        hook.run("messages", method="POST", json={"patientId": "PAT-0000001", "text": "hello"})
    time.sleep(1.5)  # let the delayed answer finish on the server
    assert sandbox.stats["writes_applied"] == 1
    assert sleeps == []
    messages = hook.run("messages").json()["value"]
    assert [m["text"] for m in messages] == ["hello"]


def test_the_post_operator_is_not_retried_by_airflow_after_a_timed_out_answer(
    load_dag, sandbox, monkeypatch, sleeps, tmp_path
):
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sandbox.conn_json(timeout=1))
    sandbox.set_faults("delay:path=/api/v1/messages:method=POST:max=1:seconds=2")
    dag = load_dag("hep_api_calls.py", "hep_api_calls")
    post = dag.get_task("post_message")
    assert post.retries == 2  # the example DAG retries its tasks...
    run = dag.test(logical_date=WINDOW_END, mark_success_pattern="start_export|wait_for_export")
    time.sleep(1.5)
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states["post_message"] == ("failed", 1)  # ...but never this POST after a timeout
    assert sandbox.stats["writes_applied"] == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_the_post_operator_is_not_retried_by_airflow_after_a_gateway_error(
    load_dag, sandbox, sleeps, status
):
    # A 5xx after sending (a gateway timing out, a crash after the write) may mean HEP applied
    # the POST: neither the hook nor Airflow sends it again.
    sandbox.set_faults(f"{status}:path=/api/v1/messages:method=POST:max=1")
    dag = load_dag("hep_api_calls.py", "hep_api_calls")
    assert dag.get_task("post_message").retries == 2
    run = dag.test(logical_date=WINDOW_END, mark_success_pattern="start_export|wait_for_export")
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states["post_message"] == ("failed", 1)
    assert sandbox.stats["requests_by_path"].get("/api/v1/messages", 0) == 1
    assert sleeps == []


def test_a_post_with_an_idempotency_key_is_retried_and_applied_once(sandbox, monkeypatch, sleeps):
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sandbox.conn_json(timeout=1))
    sandbox.set_faults("delay:path=/api/v1/messages:method=POST:max=1:seconds=2")
    hook = HepHook(idempotency_key="Idempotency-Key")
    answer = hook.run(
        "messages",
        method="POST",
        json={"patientId": "PAT-0000001", "text": "hello"},
        headers={"Idempotency-Key": "reliability-post-1"},
    )
    assert answer.status_code == 201
    assert answer.headers.get("Idempotent-Replayed") == "true"
    assert len(sleeps) == 1
    assert sandbox.stats["writes_applied"] == 1
    assert json.loads(answer.content)["text"] == "hello"


def test_the_example_dag_keeps_real_retries_with_no_retry_wait(example):
    assert {task.retries for task in example.tasks} == {2}
    assert {task.retry_delay for task in example.tasks} == {timedelta(0)}
