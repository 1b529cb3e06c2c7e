"""The example DAGs on a real, distributed Airflow: PostgreSQL, Redis, CeleryExecutor, 2 workers.

``dag.test()`` runs every task in one process. Here each task runs in its own supervised
subprocess on one of two Celery workers, resolves the connection through the execution API,
defers to a separate triggerer and logs to per-task files: the deployment our users scale to.
The two workers share one machine, so a shared local folder stands in for the object store.
"""

from __future__ import annotations

import json
from pathlib import Path

from deploy.leaks import task_log_files
from deploy.scenario import API_DAG, COLLECTIONS, SYNC_DAG, SYNC_LOGICAL_DATES, WORKERS, Evidence


def test_every_run_of_both_example_dags_succeeds(deployment: Evidence):
    manual = {
        dag_id: [r["dag_run_id"] for r in runs if r["run_type"] == "manual"]
        for dag_id, runs in deployment.runs.items()
    }
    assert len(manual[SYNC_DAG]) == len(SYNC_LOGICAL_DATES)
    assert len(manual[API_DAG]) == 1
    states = {
        (dag_id, r["dag_run_id"]): r["state"]
        for dag_id, runs in deployment.runs.items()
        for r in runs
    }
    assert set(states.values()) == {"success"}, states
    tis = [ti for tis in deployment.task_instances.values() for ti in tis]
    assert {ti["state"] for ti in tis} == {"success"}


def test_mapped_sync_tasks_ran_on_both_workers_by_task_instance_hostname(deployment: Evidence):
    mapped = [ti for ti in deployment.all_task_instances(SYNC_DAG) if ti["map_index"] >= 0]
    assert len(mapped) >= 4
    where = {(ti["dag_run_id"], ti["map_index"]): ti["hostname"] for ti in mapped}
    assert set(where.values()) == set(WORKERS), where
    # Every task instance took its hostname from its worker's [core] hostname_callable.
    every = [ti for tis in deployment.task_instances.values() for ti in tis]
    assert {ti["hostname"] for ti in every} <= set(WORKERS)


def test_the_deferred_sensor_waited_in_the_triggerer_and_resumed_on_a_worker(
    deployment: Evidence,
):
    for (dag_id, run_id), tis in deployment.task_instances.items():
        if dag_id != API_DAG:
            continue
        sensor = next(ti for ti in tis if ti["task_id"] == "wait_for_export")
        assert sensor["state"] == "success"
        assert sensor["try_number"] == 1  # a deferral is not a retry
        assert "deferred" in deployment.states_seen[(dag_id, run_id, "wait_for_export", -1)]
        folder = (
            deployment.logs / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=wait_for_export"
        )
        events = [e["event"] for e in _json_lines(folder / "attempt=1.log")]
        deferred_at = events.index("Pausing task as DEFERRED. ")
        assert "::group::Pre Execute" in events[deferred_at:]  # the worker ran it again
        # The triggerer (its job id names the file) ran the trigger: it polled HEP and fired.
        (trigger_log,) = folder.glob("attempt=1.log.trigger.*.log")
        assert int(trigger_log.name.split(".")[-2]) in deployment.triggerer_job_ids
        trigger = _json_lines(trigger_log)
        polls = [
            e for e in trigger if e.get("logger") == "airflow_provider_hep.triggers.hep.HepTrigger"
        ]
        assert polls
        assert any(e["event"] == "Trigger fired event" for e in trigger)


def test_sync_output_is_exact_against_the_sandbox_truth(deployment: Evidence):
    nonempty = 0
    for run in deployment.runs[SYNC_DAG]:
        start, end = run["data_interval_start"], run["data_interval_end"]
        for collection in COLLECTIONS:
            folder = deployment.lake / collection / f"start={_ts_nodash(start)}"
            truth = deployment.truth[(collection, start, end)]
            manifest = json.loads((folder / "_manifest.json").read_text())
            assert sorted(_ids(folder, manifest)) == truth, (collection, start)
            assert manifest["records"] == len(truth)
            # Superseded parts are gone: a reader that globs sees exactly the committed parts.
            parts = sorted(str(p.relative_to(folder)) for p in folder.glob("_runs/*/part-*"))
            assert parts == sorted(part["path"] for part in manifest["parts"])
            nonempty += bool(truth)
    assert nonempty >= 4  # both triggered intervals of both collections hold records


def test_each_mapped_sync_task_emitted_its_collections_asset_event(deployment: Evidence):
    events = {(e["source_run_id"], e["source_map_index"]): e for e in deployment.asset_events}
    for ti in deployment.all_task_instances(SYNC_DAG):
        event = events[(ti["dag_run_id"], ti["map_index"])]
        manifest = Path(event["extra"]["manifest"].removeprefix("file://"))
        assert manifest.is_file()
        collection = manifest.parent.parent.name  # <lake>/<collection>/start=<ts>/_manifest.json
        assert event["uri"] == f"hep://sap-hep-default/{collection}"


def test_the_sandbox_saw_one_fresh_token_per_api_call(deployment: Evidence):
    stats = deployment.sandbox_stats
    assert stats["api_calls"] > 0
    assert stats["calls_per_token"]["max"] == 1
    assert stats["api_calls"] == stats["calls_per_token"]["tokens_used"] == stats["tokens_issued"]
    assert stats["auth_failures"] == 0


def test_per_task_log_files_hold_no_secret_and_no_token(deployment: Evidence):
    report = deployment.leaks["task logs"]
    assert report.files >= 10
    assert any(".trigger." in path.name for path in task_log_files(deployment.home))
    assert report.leaks == []


def test_no_airflow_component_output_holds_a_secret_or_a_token(deployment: Evidence):
    report = deployment.leaks["component output"]
    assert report.files >= 6
    assert report.leaks == []


def _json_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def _ids(folder: Path, manifest: dict) -> list[str]:
    ids = []
    for part in manifest["parts"]:
        lines = (folder / part["path"]).read_text().splitlines()
        ids += [json.loads(line)["id"] for line in lines]
    return ids


def _ts_nodash(iso: str) -> str:
    """2026-01-01T04:00:00Z -> 20260101T040000, as the DAG's ``ts_nodash`` filter renders it."""
    return iso.replace("-", "").replace(":", "").removesuffix("Z")[:15]
