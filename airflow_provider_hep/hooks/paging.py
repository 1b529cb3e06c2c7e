"""Page through a HEP collection: sequentially, or window slices in parallel, in order.

The paging decisions (next request, loop and foreign-host refusal, totals) come from the
sans-IO :mod:`airflow_provider_hep.pagination`; this module only sends the requests through
the hook's transport (a fresh token per request) and schedules the slices.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_hep.exceptions import HepPaginationError
from airflow_provider_hep.pagination import (
    Page,
    PageRequest,
    PageResponse,
    PageWalker,
    PagingStrategy,
    resolve_strategy,
)
from airflow_provider_hep.window import combine_filters, split_window, window_filter

if TYPE_CHECKING:
    from airflow_provider_hep.hooks.hep import HepHook

# Pages come out in slice order, and the buffer of pages fetched ahead holds at most
# BUFFER_PAGES_PER_WORKER pages per worker, whatever the collection's size. A worker that is
# not on the head slice waits while the buffer is full, so a slice must be short for the
# workers to stay busy: while the head slice is fetched, the others fetch about half of theirs
# into the buffer. The window's total (from a first probe page) therefore sets the number of
# slices to about PAGES_PER_SLICE pages each; more slices would cost more requests, as a
# slice's last page is mostly partial (about half a page more per slice).
SLICES_PER_WORKER = 4  # the minimum, and the whole plan when the server reports no total
PAGES_PER_SLICE = 8
BUFFER_PAGES_PER_WORKER = 8
MAX_SLICES = 100_000
# Ask OData servers for the window's total in the probe (OData v4 $count, v2 $inlinecount).
_COUNT_PARAMS = {
    "odata": ("$count", "true"),
    "offset": ("$count", "true"),
    "keyset": ("$count", "true"),
    "odata_v2": ("$inlinecount", "allpages"),
}


@dataclass(frozen=True)
class FetchedPage:
    """One page as the sync operator needs it: records, server total, and where it came from."""

    records: list[Any]
    total: int | None
    number: int
    slice_index: int
    path: str
    truncated: bool = False  # the last page max_pages allowed, and the server had more


def plan_params(
    params: Mapping[str, Any] | None,
    window: tuple[datetime | str, datetime | str] | None,
    window_field: str,
) -> dict[str, str]:
    """Return the query parameters with the window ANDed into the OData ``$filter``."""
    planned = {str(k): str(v) for k, v in (params or {}).items()}
    if window is not None:
        planned["$filter"] = combine_filters(
            planned.get("$filter"), window_filter(window_field, window[0], window[1])
        )
    return planned


def iter_pages(
    hook: HepHook,
    endpoint: str,
    *,
    pagination: str | PagingStrategy | Mapping[str, Any] = "odata",
    params: Mapping[str, Any] | None = None,
    records_path: str | None = None,
    window: tuple[datetime | str, datetime | str] | None = None,
    window_field: str = "lastModified",
    max_concurrency: int = 1,
    max_pages: int | None = None,
) -> Iterator[FetchedPage]:
    """Yield every page, in order; parallel slices of the window when max_concurrency > 1.

    In parallel, a first probe page of the whole window (with the strategy's count parameter,
    such as ``$count=true``) gives the total, which sets the number of slices (see
    :func:`slice_count`); when that page holds the whole window, it is yielded and no slice
    is made. ``max_pages`` caps the pages of each series (each slice is one series).
    """
    strategy = resolve_strategy(pagination, records_path=records_path)
    url = hook.transport.url_for(endpoint)
    if max_concurrency <= 1 or window is None:
        yield from _walk(
            hook, strategy, url, plan_params(params, window, window_field), 0, max_pages
        )
        return
    planned = plan_params(params, window, window_field)
    count = _COUNT_PARAMS.get(getattr(strategy, "name", ""))
    probe_params = planned if count is None else {count[0]: count[1], **planned}
    probe = _walk(hook, strategy, url, probe_params, 0, max_pages)
    first = next(probe)
    slices = slice_count(first, max_concurrency)
    if slices <= 1:  # the probe page holds the whole window
        yield first
        yield from probe
        return
    probe.close()  # the probe page is not reused: its records span every slice
    pieces = split_window(window[0], window[1], slices)
    series = [plan_params(params, piece, window_field) for piece in pieces]
    yield from _ordered_parallel(hook, strategy, url, series, max_concurrency, max_pages)


def slice_count(first: FetchedPage, workers: int) -> int:
    """Choose how many slices to cut the window into, from its first page and total.

    Without a total, ``workers * SLICES_PER_WORKER``; with one, enough slices of about
    ``PAGES_PER_SLICE`` pages (at least that minimum), or 1 when the first page holds it all.
    """
    fallback = workers * SLICES_PER_WORKER
    if first.total is None:
        return fallback
    if first.total <= len(first.records):
        return 1
    if not first.records:  # no page size to go by
        return fallback
    pages = -(-first.total // len(first.records))  # ceiling division
    return min(MAX_SLICES, max(fallback, -(-pages // PAGES_PER_SLICE)))


def paginate(hook: HepHook, endpoint: str, **kwargs: Any) -> Iterator[list[Any]]:
    """Yield one list of records per page, in order (see :func:`iter_pages`)."""
    for page in iter_pages(hook, endpoint, **kwargs):
        yield page.records


def _walk(
    hook: HepHook,
    strategy: PagingStrategy,
    url: str,
    params: Mapping[str, str],
    slice_index: int,
    max_pages: int | None,
) -> Generator[FetchedPage, None, None]:
    walker = PageWalker(strategy, allowed_origin=hook.transport.api_origin, max_pages=max_pages)
    request: PageRequest | None = walker.first(url, params)
    number = 0
    while request is not None:
        number += 1
        resp = hook.transport.request("GET", request.url, params=request.params)
        path = urlsplit(resp.url).path
        try:
            body = json.loads(resp.content)
        except ValueError:
            raise HepPaginationError(
                f"page {number} of {path} is not valid JSON (HTTP {resp.status_code})"
            ) from None
        response = PageResponse(
            url=resp.url, status=resp.status_code, headers=resp.headers, body=body
        )
        try:
            page: Page = walker.advance(request, response)
        except HepPaginationError as exc:  # name the page: records missing, a loop, a bad link
            raise HepPaginationError(f"page {number} of {path}: {exc}") from None
        yield FetchedPage(
            page.records, page.total, number, slice_index, path, truncated=walker.truncated
        )
        request = page.next


class _OrderedBuffer:
    """Hold pages fetched ahead, per slice, and release them in slice order.

    A worker whose slice is not the head waits while the buffer is full; the head slice waits
    only while its own queue holds ``capacity`` pages. The consumer never starves, and at most
    about twice ``capacity`` pages are held, however slow the consumer is.
    """

    def __init__(self, slices: int, capacity: int) -> None:
        self.pages: list[deque[FetchedPage]] = [deque() for _ in range(slices)]
        self.done = [False] * slices
        self.head = 0
        self.buffered = 0
        self.capacity = capacity
        self.error: BaseException | None = None
        self.cancelled = False
        self.cond = threading.Condition()

    def put(self, page: FetchedPage) -> bool:
        with self.cond:
            # A slice that is not the head waits while the buffer is full. The head waits only
            # while its own queue is full: the consumer always drains the head, so it cannot
            # deadlock, and a writer slower than the head's fetching still bounds memory.
            while not self.cancelled and (
                len(self.pages[page.slice_index]) >= self.capacity
                or (self.buffered >= self.capacity and page.slice_index != self.head)
            ):
                self.cond.wait()
            if self.cancelled:
                return False
            self.pages[page.slice_index].append(page)
            self.buffered += 1
            self.cond.notify_all()
            return True

    def finish(self, index: int, error: BaseException | None = None) -> None:
        with self.cond:
            self.done[index] = True
            if error is not None and self.error is None:
                self.error = error
            self.cond.notify_all()

    def take(self) -> FetchedPage | None:
        with self.cond:
            while True:
                if self.error is not None:
                    raise self.error
                if self.head >= len(self.pages):
                    return None
                queue = self.pages[self.head]
                if queue:
                    self.buffered -= 1
                    self.cond.notify_all()
                    return queue.popleft()
                if self.done[self.head]:
                    self.head += 1
                    self.cond.notify_all()
                    continue
                self.cond.wait()

    def cancel(self) -> None:
        with self.cond:
            self.cancelled = True
            self.cond.notify_all()


def _ordered_parallel(
    hook: HepHook,
    strategy: PagingStrategy,
    url: str,
    series: list[dict[str, str]],
    workers: int,
    max_pages: int | None,
) -> Iterator[FetchedPage]:
    buffer = _OrderedBuffer(len(series), capacity=workers * BUFFER_PAGES_PER_WORKER)

    def run(index: int) -> None:
        try:
            for page in _walk(hook, strategy, url, series[index], index, max_pages):
                if not buffer.put(page):
                    break
        except BaseException as exc:  # handed to the consumer, which re-raises it
            buffer.finish(index, exc)
        else:
            buffer.finish(index)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hep-page")
    try:
        for index in range(len(series)):
            pool.submit(run, index)
        while (page := buffer.take()) is not None:
            yield page
    finally:
        buffer.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
