"""HepSyncOperator refuses what it cannot do, before any request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_hep.operators.sync import HepSyncOperator, collection_asset_uri


def make(**kwargs):
    return HepSyncOperator(task_id="sync", endpoint="patients", destination="/tmp/x", **kwargs)


def test_a_run_without_a_data_interval_fails_with_the_fix():
    context = {"data_interval_start": None, "data_interval_end": None}
    with pytest.raises(AirflowFailException, match="no data interval.*logical date"):
        make()._window(context)


def test_a_zero_length_interval_names_the_timetable_fix():
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(AirflowFailException, match="DeltaDataIntervalTimetable"):
        make()._window({"data_interval_start": moment, "data_interval_end": moment})


@pytest.mark.parametrize("lookback", [timedelta(minutes=15), 900, 900.0, "900"])
def test_lookback_widens_the_window_start_as_a_timedelta_or_rendered_seconds(lookback):
    start, end = datetime(2026, 1, 1, 4, tzinfo=UTC), datetime(2026, 1, 1, 5, tzinfo=UTC)
    window = make(lookback=lookback)._window(
        {"data_interval_start": start, "data_interval_end": end}
    )
    assert window == (datetime(2026, 1, 1, 3, 45, tzinfo=UTC), end)
    assert "lookback" in HepSyncOperator.template_fields


@pytest.mark.parametrize(
    ("lookback", "match"),
    [
        ("15m", "not a timedelta"),
        (-5, "zero or more"),
        (1e15, "too large"),
        (timedelta(days=800_000), "too large"),
    ],
)
def test_a_bad_lookback_names_the_field_and_the_fix(lookback, match):
    start, end = datetime(2026, 1, 1, 4, tzinfo=UTC), datetime(2026, 1, 1, 5, tzinfo=UTC)
    with pytest.raises(AirflowFailException, match=rf"lookback .*{match}"):
        make(lookback=lookback)._window({"data_interval_start": start, "data_interval_end": end})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"format": "csv"}, "format 'csv'"),
        ({"count_check": "maybe"}, "count_check 'maybe'"),
        ({"max_concurrency": 0}, "max_concurrency"),
    ],
)
def test_bad_arguments_fail_without_retry(kwargs, match):
    with pytest.raises(AirflowFailException, match=match):
        make(**kwargs)._validate()


def test_collection_assets_have_stable_uris():
    assert collection_asset_uri("sap_hep_default", "/patients/") == "hep://sap-hep-default/patients"


# -- commits of overlapping and repeated attempts, against the sandbox -------------------------

DAY = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))


def run_sync(task, run_id="manual__1", try_number=1):
    from types import SimpleNamespace

    context = {
        "run_id": run_id,
        "ti": SimpleNamespace(try_number=try_number),
        "data_interval_start": DAY[0],
        "data_interval_end": DAY[1],
    }
    return task.execute(context)


def sync_task(tmp_path, **kwargs):
    return HepSyncOperator(task_id="sync", endpoint="patients", destination=str(tmp_path), **kwargs)


def globbed(tmp_path):
    return sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("_runs/*/part-*"))


def test_a_rerun_with_the_same_run_id_and_try_leaves_exactly_its_own_parts(sandbox, tmp_path):
    # `airflow tasks test` and repeated dag.test() runs reuse run id and try number.
    sb = sandbox(records=60)
    first = run_sync(sync_task(tmp_path, part_records=5))
    second = run_sync(sync_task(tmp_path, part_records=1000))
    assert len(first["parts"]) > 1
    assert len(second["parts"]) == 1
    assert globbed(tmp_path) == [part["path"] for part in second["parts"]]
    assert second["records"] == len(sb.truth("patients", *DAY)["current"]) == 60


def test_an_attempt_overtaken_by_another_commit_commits_nothing(sandbox, tmp_path):
    # A zombie try 1 is still paging when its retry, try 2, runs and commits.
    from airflow_provider_hep.exceptions import HepCommitError

    sandbox(records=60)
    retry = sync_task(tmp_path, part_records=1000)

    class Zombie(HepSyncOperator):
        def _fetch_and_write(self, *args, **kwargs):
            stats = super()._fetch_and_write(*args, **kwargs)
            run_sync(retry, try_number=2)  # commits while this attempt is mid-way
            return stats

    zombie = Zombie(task_id="sync", endpoint="patients", destination=str(tmp_path))
    with pytest.raises(HepCommitError, match=r"another attempt .* committed while run"):
        run_sync(zombie, try_number=1)
    manifest = json.loads((tmp_path / "_manifest.json").read_text())
    assert "-try2-" in manifest["run"]
    assert globbed(tmp_path) == [part["path"] for part in manifest["parts"]]
