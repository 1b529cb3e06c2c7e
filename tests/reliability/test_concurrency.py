"""Many syncs against one sandbox with single-use tokens: exact outputs, one token per call."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from hep_testing import WINDOW_END, ids_via_manifest, manifest

from airflow_provider_hep.hooks.hep import HepHook

pytestmark = pytest.mark.dags

FANOUT = ("hep_sync_fanout.py", "hep_sync_fanout")


@pytest.fixture
def sandbox(hep_sandbox_factory, monkeypatch):
    sb = hep_sandbox_factory(records=3000, single_use_tokens=True)
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sb.conn_json())
    return sb


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_one_token_per_call(stats: dict) -> None:
    assert stats["auth_failures"] == 0
    assert stats["calls_per_token"]["max"] == 1
    assert stats["tokens_issued"] == stats["token_requests"]
    assert stats["api_calls"] == stats["api_calls_ok"] == stats["tokens_issued"]
    assert stats["calls_per_token"]["tokens_used"] == stats["api_calls"]
    assert len(set(stats["tokens"])) == stats["tokens_issued"]


def test_sixteen_mapped_syncs_in_one_run_each_write_their_exact_window(
    load_dag, sandbox, monkeypatch, tmp_path
):
    monkeypatch.setenv("HEP_FANOUT_ROOT", str(tmp_path))
    dag = load_dag(*FANOUT)
    run = dag.test(logical_date=WINDOW_END)
    states = {ti.map_index: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states == {index: ("success", 1) for index in range(16)}

    module_cases = dag.get_task("sync").expand_input.value
    windows = set()
    for case in module_cases:
        start = WINDOW_END - timedelta(hours=1) - case["lookback"]
        window = (iso(start), iso(WINDOW_END))
        windows.add((case["endpoint"], window))
        truth = sandbox.truth(case["endpoint"], *window)["current"]
        out = tmp_path / case["endpoint"] / f"lookback={case['lookback'].seconds // 3600}h"
        ids = ids_via_manifest(out)
        assert set(ids) == set(truth), case
        assert len(ids) == len(truth) == manifest(out)["records"] > 0, case
        assert manifest(out)["window"]["start"] == window[0]
    assert len(windows) == 16  # every task had its own collection and window
    assert_one_token_per_call(sandbox.stats)


def test_sixteen_threads_paging_at_once_each_get_their_exact_window_and_own_tokens(sandbox):
    slices = [
        (collection, hour)
        for collection in ("patients", "appointments", "care-plans")
        for hour in range(6)
    ][:16]
    results: dict[tuple[str, int], list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(slices))

    def sync(collection: str, hour: int) -> None:
        start = datetime(2026, 1, 1, hour, tzinfo=UTC)
        hook = HepHook(max_concurrency=2)
        try:
            barrier.wait(timeout=30)
            pages = hook.paginate(
                collection,
                params={"$top": "20"},
                window=(start, start + timedelta(hours=1)),
                max_concurrency=2,
            )
            results[(collection, hour)] = [r["id"] for page in pages for r in page]
        except BaseException as exc:  # reported below, with the thread's case
            errors.append(exc)
        finally:
            hook.close()

    threads = [threading.Thread(target=sync, args=case) for case in slices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(results) == sorted(slices)
    for (collection, hour), ids in results.items():
        start = datetime(2026, 1, 1, hour, tzinfo=UTC)
        truth = sandbox.truth(collection, iso(start), iso(start + timedelta(hours=1)))["current"]
        assert set(ids) == set(truth), (collection, hour)
        assert len(ids) == len(truth) > 0, (collection, hour)
    assert_one_token_per_call(sandbox.stats)
