"""HepSyncOperator refuses what it cannot do, before any request."""

from __future__ import annotations

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
