"""HepSyncOperator under dag.test() with a real SQLite metadata DB, against the sandbox."""

from __future__ import annotations

import json

import pytest
from hep_testing import WINDOW, WINDOW_END, ids_via_glob, ids_via_manifest, manifest, task_states


@pytest.fixture
def sandbox(hep_sandbox_factory, monkeypatch):
    sb = hep_sandbox_factory(records=3000, single_use_tokens=True)
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sb.conn_json())
    return sb


def run_cases(load_dag, monkeypatch, cases, retries=0):
    monkeypatch.setenv("HEP_SYNC_CASES", json.dumps(cases))
    monkeypatch.setenv("HEP_SYNC_RETRIES", str(retries))
    dag = load_dag("hep_sync_cases.py", "hep_sync_cases")
    return dag.test(logical_date=WINDOW_END)


def test_example_dag_syncs_each_collection_exactly_once_with_one_token_per_call(
    load_dag, sandbox, tmp_path
):
    dag = load_dag("hep_incremental_sync.py", "hep_incremental_sync")
    for _ in range(2):  # the second run of the same interval replaces the first
        run = dag.test(logical_date=WINDOW_END, run_conf={"destination_root": str(tmp_path)})
        assert run.state == "success"
    for collection in ("patients", "appointments"):
        folder = tmp_path / collection / "start=20260101T040000"
        truth = sandbox.truth(collection, *WINDOW)["current"]
        assert sorted(ids_via_manifest(folder)) == truth
        assert sorted(ids_via_glob(folder)) == truth  # superseded run's parts are gone
        assert len(list(folder.glob("_runs/*"))) == 1
        assert manifest(folder)["records"] == len(truth) > 0
    stats = sandbox.stats
    assert stats["calls_per_token"]["max"] == 1
    assert stats["api_calls"] == stats["tokens_issued"] == stats["calls_per_token"]["tokens_used"]
    assert stats["auth_failures"] == 0


STYLES = [
    ("odata", {}),
    ("odata", {"_links": "relative"}),
    ("odata_v2", {"_style": "odata_v2"}),
    ("link_header", {"_style": "link_header"}),
    ("cursor", {"_style": "cursor"}),
    ("page", {"_style": "page"}),
    ("fhir", {"_style": "fhir"}),
    ({"name": "keyset", "page_size": 50}, {"_next": "skip"}),
]


def test_every_paging_style_writes_exactly_the_windows_records(
    load_dag, sandbox, monkeypatch, tmp_path
):
    cases = [
        {
            "endpoint": "patients",
            "destination": str(tmp_path / f"case{i}"),
            "pagination": pagination,
            "query": query,
            "count_check": "fail",
        }
        for i, (pagination, query) in enumerate(STYLES)
    ]
    run = run_cases(load_dag, monkeypatch, cases)
    assert task_states(run) == dict.fromkeys(range(len(STYLES)), "success")
    truth = sandbox.truth("patients", *WINDOW)["current"]
    for i, (pagination, _) in enumerate(STYLES):
        ids = ids_via_manifest(tmp_path / f"case{i}")
        assert sorted(ids) == truth, pagination
        assert len(ids) == len(set(ids)), pagination
    assert sandbox.stats["calls_per_token"]["max"] == 1


def test_odata_v2_dates_are_written_as_iso_8601(load_dag, sandbox, monkeypatch, tmp_path):
    case = {
        "endpoint": "patients",
        "destination": str(tmp_path),
        "pagination": "odata_v2",
        "query": {"_style": "odata_v2"},
    }
    assert run_cases(load_dag, monkeypatch, [case]).state == "success"
    part = manifest(tmp_path)["parts"][0]["path"]
    first = json.loads((tmp_path / part).read_text().splitlines()[0])
    assert first["lastModified"].startswith("2026-01-01T04:")
    assert first["lastModified"].endswith("Z")


def test_parallel_slices_give_the_same_output_in_the_same_order_as_sequential(
    load_dag, sandbox, monkeypatch, tmp_path
):
    cases = [
        {"endpoint": "appointments", "destination": str(tmp_path / "seq"), "max_concurrency": 1},
        {"endpoint": "appointments", "destination": str(tmp_path / "par"), "max_concurrency": 4},
    ]
    assert run_cases(load_dag, monkeypatch, cases).state == "success"
    sequential = ids_via_manifest(tmp_path / "seq")
    assert ids_via_manifest(tmp_path / "par") == sequential
    assert sorted(sequential) == sandbox.truth("appointments", *WINDOW)["current"]


def test_a_failed_run_commits_nothing_and_keeps_the_previous_output(
    load_dag, sandbox, monkeypatch, tmp_path
):
    case = {"endpoint": "patients", "destination": str(tmp_path), "max_concurrency": 2}
    assert run_cases(load_dag, monkeypatch, [case]).state == "success"
    before = manifest(tmp_path)
    parts_before = sorted(p.read_bytes() for p in tmp_path.glob("_runs/*/part-*"))

    sandbox.set_faults("malformed:after=2:max=1")  # the third page answers with broken JSON
    failed = run_cases(load_dag, monkeypatch, [case])
    assert failed.state == "failed"
    assert manifest(tmp_path) == before
    assert sorted(p.read_bytes() for p in tmp_path.glob("_runs/*/part-*")) == parts_before
    assert len(list(tmp_path.glob("_runs/*"))) == 1

    sandbox.clear_faults()
    assert run_cases(load_dag, monkeypatch, [case]).state == "success"
    assert sorted(ids_via_glob(tmp_path)) == sandbox.truth("patients", *WINDOW)["current"]


def test_a_next_link_to_another_host_fails_the_task_and_commits_nothing(
    load_dag, sandbox, monkeypatch, tmp_path
):
    sandbox.set_faults("foreign_next:every=1")
    case = {"endpoint": "patients", "destination": str(tmp_path)}
    assert run_cases(load_dag, monkeypatch, [case]).state == "failed"
    assert not (tmp_path / "_manifest.json").exists()
    assert list(tmp_path.glob("_runs/*")) == []
    assert all("evil" not in path for path in sandbox.stats["requests_by_path"])


@pytest.mark.parametrize("max_concurrency", [1, 4])
def test_concurrent_modification_never_loses_an_unmodified_record(
    load_dag, sandbox, monkeypatch, tmp_path, max_concurrency
):
    sandbox.set_faults("modify:every=2:count=3")
    case = {
        "endpoint": "patients",
        "destination": str(tmp_path),
        "max_concurrency": max_concurrency,
        "query": {"$top": "20"},
    }
    assert run_cases(load_dag, monkeypatch, [case]).state == "success"
    truth = sandbox.truth("patients", *WINDOW)
    written = set(ids_via_manifest(tmp_path))
    assert truth["modified"], "the fault must have modified records, or this test proves nothing"
    assert set(truth["unmodified"]) <= written <= set(truth["original"])


def test_plain_skip_paging_does_lose_records_under_concurrent_modification(
    load_dag, sandbox, monkeypatch, tmp_path
):
    sandbox.set_faults("modify:every=2:count=3")
    case = {
        "endpoint": "patients",
        "destination": str(tmp_path),
        "pagination": {"name": "offset", "page_size": 20},
    }
    assert run_cases(load_dag, monkeypatch, [case]).state == "success"
    truth = sandbox.truth("patients", *WINDOW)
    missed = set(truth["unmodified"]) - set(ids_via_manifest(tmp_path))
    assert missed, "offset paging over live data should skip unmodified records"


def test_count_reconciliation_fails_or_warns_when_records_went_missing(
    load_dag, sandbox, monkeypatch, tmp_path
):
    sandbox.set_faults("modify:every=2:count=3")
    lossy = {"name": "offset", "page_size": 20}  # loses records under modification (see above)
    cases = [
        {
            "endpoint": "patients",
            "destination": str(tmp_path / "fail"),
            "pagination": lossy,
            "count_check": "fail",
        },
        {
            "endpoint": "patients",
            "destination": str(tmp_path / "warn"),
            "pagination": lossy,
            "count_check": "warn",
        },
    ]
    run = run_cases(load_dag, monkeypatch, cases)
    assert task_states(run) == {0: "failed", 1: "success"}
    assert not (tmp_path / "fail" / "_manifest.json").exists()
    assert manifest(tmp_path / "warn")["reported_total"] > manifest(tmp_path / "warn")["records"]


def test_a_window_longer_than_max_pages_fails_at_once_and_keeps_the_previous_output(
    load_dag, sandbox, monkeypatch, tmp_path
):
    # 115-ish records of the window in pages of 100: max_pages=1 would leave a partial window.
    truth = sandbox.truth("patients", *WINDOW)["current"]
    assert len(truth) > 100
    capped = {"endpoint": "patients", "destination": str(tmp_path / "capped")}
    assert task_states(run_cases(load_dag, monkeypatch, [capped])) == {0: "success"}
    before = {p: p.read_bytes() for p in (tmp_path / "capped").rglob("*") if p.is_file()}

    run = run_cases(
        load_dag,
        monkeypatch,
        [
            {**capped, "max_pages": 1},
            {**capped, "destination": str(tmp_path / "ample"), "max_pages": 2},
        ],
        retries=2,
    )
    tries = {ti.map_index: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert tries == {0: ("failed", 1), 1: ("success", 1)}  # retries=2, none used: it is final
    after = {p: p.read_bytes() for p in (tmp_path / "capped").rglob("*") if p.is_file()}
    assert after == before  # nothing committed, no stray part left
    assert sorted(ids_via_manifest(tmp_path / "capped")) == truth
    assert sorted(ids_via_manifest(tmp_path / "ample")) == truth
    assert manifest(tmp_path / "ample")["pages"] == 2
