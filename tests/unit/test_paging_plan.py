"""Parallel paging plans its slices from the window's total, so that workers are not held up."""

from __future__ import annotations

from airflow_provider_hep.hooks import paging
from airflow_provider_hep.hooks.hep import HepHook
from airflow_provider_hep.hooks.paging import FetchedPage, slice_count

WINDOW = ("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")


def first_page(records: int, total: int | None) -> FetchedPage:
    return FetchedPage(list(range(records)), total, 1, 0, "/api/v1/patients")


def test_without_a_total_the_window_is_cut_into_four_slices_per_worker():
    assert slice_count(first_page(100, None), workers=8) == 8 * paging.SLICES_PER_WORKER


def test_a_window_that_fits_in_the_first_page_is_not_sliced():
    assert slice_count(first_page(40, 40), workers=8) == 1


def test_a_large_window_gets_slices_of_about_pages_per_slice_pages():
    pages = 1000  # 100,000 records in pages of 100
    expected = -(-pages // paging.PAGES_PER_SLICE)
    assert slice_count(first_page(100, 100 * pages), workers=8) == expected


def test_a_small_window_keeps_the_minimum_of_slices_per_worker():
    assert slice_count(first_page(100, 1000), workers=8) == 8 * paging.SLICES_PER_WORKER


def test_an_empty_first_page_with_a_total_falls_back_to_slices_per_worker():
    assert slice_count(first_page(0, 500), workers=2) == 2 * paging.SLICES_PER_WORKER


def test_parallel_pages_come_in_the_sequential_order_after_one_count_probe(
    hep_sandbox_factory, monkeypatch
):
    sandbox = hep_sandbox_factory(records=2500)
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sandbox.conn_json())
    monkeypatch.setattr(paging, "PAGES_PER_SLICE", 2)  # 25 pages: 13 slices, not the minimum 8
    sequential = [r["id"] for page in HepHook().paginate("patients", window=WINDOW) for r in page]
    sandbox.reset_stats()
    hook = HepHook(max_concurrency=2)
    pages = list(hook.paginate("patients", window=WINDOW, max_concurrency=2))
    assert [r["id"] for page in pages for r in page] == sequential
    assert len(sequential) == 2500
    stats = sandbox.stats
    # The probe (with $count=true) is one page more than the 13 slices need; one token each.
    assert stats["api_calls_ok"] == len(pages) + 1
    assert stats["tokens_issued"] == stats["api_calls_ok"]
    assert stats["auth_failures"] == 0
