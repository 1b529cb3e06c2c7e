"""HepHook.paginate over real HTTP: safety refusals, order, and the ordered parallel buffer."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from airflow_provider_hep.exceptions import HepPaginationError
from airflow_provider_hep.hooks.hep import HepHook
from airflow_provider_hep.hooks.paging import FetchedPage, _OrderedBuffer


@pytest.fixture
def api(httpserver, monkeypatch):
    httpserver.expect_request("/oauth/token").respond_with_handler(
        lambda r: Response(json.dumps({"access_token": "abcdefgh", "token_type": "Bearer"}))
    )
    conn = {
        "conn_type": "sap_hep",
        "host": httpserver.url_for("/api"),
        "login": "c",
        "password": "secret-123",
        "extra": {"auth_url": httpserver.url_for("/oauth/token")},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
    return httpserver


def test_a_next_link_back_to_an_earlier_page_is_refused_as_a_loop(api):
    pages = {"1": "/api/items?page=2", "2": "/api/items?page=1"}
    api.expect_request("/api/items").respond_with_handler(
        lambda r: Response(
            json.dumps(
                {
                    "value": [r.args.get("page", "1")],
                    "@odata.nextLink": api.url_for(pages[r.args.get("page", "1")]),
                }
            )
        )
    )
    with pytest.raises(HepPaginationError, match="loop"):
        list(HepHook().paginate("items"))


def test_a_next_link_to_another_host_is_refused_before_any_request_goes_there(api):
    api.expect_request("/api/items").respond_with_json(
        {"value": [1], "@odata.nextLink": "http://elsewhere.invalid/api/items?$skiptoken=2"}
    )
    with pytest.raises(HepPaginationError, match="elsewhere.invalid"):
        list(HepHook().paginate("items"))


def test_a_page_without_its_records_names_the_page_number_and_path(api):
    api.expect_request("/api/items", query_string="$skiptoken=2").respond_with_json(
        {"results": [2]}
    )
    api.expect_request("/api/items").respond_with_json(
        {"value": [1], "@odata.nextLink": api.url_for("/api/items?$skiptoken=2")}
    )
    with pytest.raises(
        HepPaginationError, match=r"^page 2 of /api/items: no 'value' in the page"
    ) as info:
        list(HepHook().paginate("items", params={"$filter": "id eq 'SECRET-ID'"}))
    assert "SECRET-ID" not in str(info.value)


def test_a_page_that_is_not_json_names_the_page_and_path_but_no_query(api):
    api.expect_request("/api/items").respond_with_data(
        "<html>oops</html>", content_type="text/html"
    )
    with pytest.raises(HepPaginationError, match=r"page 1 of /api/items is not valid JSON") as info:
        list(HepHook().paginate("items", params={"$filter": "id eq 'SECRET-ID'"}))
    assert "SECRET-ID" not in str(info.value)


def test_max_pages_stops_a_series_cleanly(api):
    api.expect_request("/api/items").respond_with_handler(
        lambda r: Response(
            json.dumps(
                {
                    "value": [1],
                    "@odata.nextLink": api.url_for(f"/api/items?n={int(r.args.get('n', 0)) + 1}"),
                }
            )
        )
    )
    assert len(list(HepHook().paginate("items", max_pages=3))) == 3


def page(index, number):
    return FetchedPage([number], None, number, index, "/x")


def test_the_buffer_releases_pages_in_slice_order_whatever_the_arrival_order():
    buffer = _OrderedBuffer(slices=3, capacity=10)
    buffer.put(page(2, 1))
    buffer.put(page(1, 1))
    buffer.finish(2)
    buffer.finish(1)
    buffer.put(page(0, 1))
    buffer.put(page(0, 2))
    buffer.finish(0)
    taken = []
    while (item := buffer.take()) is not None:
        taken.append((item.slice_index, item.number))
    assert taken == [(0, 1), (0, 2), (1, 1), (2, 1)]


def test_a_worker_error_reaches_the_consumer():
    buffer = _OrderedBuffer(slices=2, capacity=2)
    buffer.finish(1, RuntimeError("slice 1 broke"))
    with pytest.raises(RuntimeError, match="slice 1 broke"):
        buffer.take()


def test_the_head_slice_waits_for_a_slow_consumer_so_memory_stays_bounded():
    # The consumer (the part writer) is slower than the head slice's fetching: the head must
    # not buffer its whole slice. A second slice fills the rest of the buffer meanwhile.
    import threading
    import time

    buffer = _OrderedBuffer(slices=2, capacity=4)
    progress = {"head": 0, "other": 0}

    def produce(index, key, pages):
        for number in range(1, pages + 1):
            if not buffer.put(page(index, number)):
                return
            progress[key] = number
        buffer.finish(index)

    threads = [
        threading.Thread(target=produce, args=(0, "head", 50), daemon=True),
        threading.Thread(target=produce, args=(1, "other", 50), daemon=True),
    ]
    for thread in threads:
        thread.start()
    # Nobody takes. The head fills its own queue (4 pages), then must block there.
    deadline = time.monotonic() + 10
    while progress["head"] < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room for a wrongly unblocked head to go past 4
    assert progress["head"] == 4  # its own queue is full
    assert progress["other"] <= 4
    assert buffer.buffered <= 2 * buffer.capacity
    taken = []
    while (item := buffer.take()) is not None:
        taken.append((item.slice_index, item.number))
        assert buffer.buffered <= 2 * buffer.capacity
    assert taken == [(0, n) for n in range(1, 51)] + [(1, n) for n in range(1, 51)]
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
