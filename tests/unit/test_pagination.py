"""Unit tests of the sans-IO pagination strategies, the page walker and the window helpers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_hep.exceptions import HepConfigError, HepPaginationError
from airflow_provider_hep.pagination import (
    STRATEGY_NAMES,
    CursorPaging,
    FhirPaging,
    KeysetPaging,
    LinkHeaderPaging,
    ODataPaging,
    ODataV2Paging,
    OffsetPaging,
    Page,
    PageNumberPaging,
    PageRequest,
    PageResponse,
    PageWalker,
    PagingStrategy,
    deserialize_strategy,
    parse_link_header,
    resolve_strategy,
)
from airflow_provider_hep.window import (
    combine_filters,
    convert_odata_v2_dates,
    format_odata_datetime,
    odata_v2_date_to_iso,
    split_window,
    window_filter,
)

ORIGIN = "https://api.example.com"
BASE = f"{ORIGIN}/hep/v1/Patients"
UTC = UTC

Server = Callable[[PageRequest, str], PageResponse]


def full_url(request: PageRequest) -> str:
    """Return the URL the I/O layer would request: the URL plus its params."""
    if not request.params:
        return request.url
    joiner = "&" if urlsplit(request.url).query else "?"
    return f"{request.url}{joiner}{urlencode(request.params)}"


def sent(request: PageRequest) -> dict[str, str]:
    """Return the query parameters a request sends, as a dict."""
    return dict(parse_qsl(urlsplit(full_url(request)).query, keep_blank_values=True))


def respond(body: Any, headers: Mapping[str, str] | None = None) -> Server:
    """Build a server answering every request with ``body``."""
    return lambda request, url: PageResponse(url, 200, headers or {}, body)


def walk(
    strategy: PagingStrategy,
    bodies: list[Any],
    *,
    params: Mapping[str, str] | None = None,
    url: str = BASE,
    headers: Sequence[Mapping[str, str]] | None = None,
    max_pages: int | None = None,
) -> tuple[list[Page], list[PageRequest], PageWalker]:
    """Drive ``strategy`` through a walker, answering the n-th request with ``bodies[n]``."""
    walker = PageWalker(strategy, allowed_origin=ORIGIN, max_pages=max_pages)
    request: PageRequest | None = walker.first(url, params or {})
    pages: list[Page] = []
    requests: list[PageRequest] = []
    while request is not None:
        assert len(requests) < len(bodies), "the walk asked for more pages than the test has"
        index = len(requests)
        requests.append(request)
        response = PageResponse(
            full_url(request), 200, (headers or [{}] * len(bodies))[index], bodies[index]
        )
        page = walker.advance(request, response)
        pages.append(page)
        request = page.next
    return pages, requests, walker


def records(pages: list[Page]) -> list[Any]:
    """Concatenate the records of ``pages``."""
    return [record for page in pages for record in page.records]


# --- OData v4 ---------------------------------------------------------------------------------


def test_odata_paging_follows_absolute_and_relative_next_links_to_the_last_page() -> None:
    bodies = [
        {"value": [1, 2], "@odata.count": 5, "@odata.nextLink": f"{BASE}?$skiptoken=abc"},
        {"value": [3, 4], "@odata.nextLink": "Patients?$skip=4"},
        {"value": [5]},
    ]
    pages, requests, walker = walk(ODataPaging(), bodies, params={"$count": "true"})
    assert records(pages) == [1, 2, 3, 4, 5]
    assert pages[0].total == 5
    assert [full_url(r) for r in requests] == [
        f"{BASE}?%24count=true",
        f"{BASE}?$skiptoken=abc",
        f"{BASE}?$skip=4",
    ]
    assert walker.pages == 3


def test_odata_first_request_passes_the_callers_params_through() -> None:
    request = ODataPaging().first_request(BASE, {"$filter": "a eq 1", "$count": "true"})
    assert request == PageRequest(BASE, {"$filter": "a eq 1", "$count": "true"})
    assert ODataPaging().first_request(f"{BASE}?$top=5", {}) == PageRequest(f"{BASE}?$top=5")


def test_odata_next_link_that_is_not_a_string_raises_a_pagination_error() -> None:
    with pytest.raises(HepPaginationError, match="nextLink .* not a string"):
        walk(ODataPaging(), [{"value": [], "@odata.nextLink": 42}])


def test_odata_page_without_value_names_the_path_but_never_the_query() -> None:
    walker = PageWalker(ODataPaging(), allowed_origin=ORIGIN)
    request = walker.first(BASE, {"$filter": "patientId eq 'P-123'"})
    response = PageResponse(f"{BASE}?$filter=patientId%20eq%20%27P-123%27", 200, {}, {"x": 1})
    with pytest.raises(HepPaginationError, match="no 'value'") as caught:
        walker.advance(request, response)
    assert "/hep/v1/Patients" in str(caught.value)
    assert "P-123" not in str(caught.value)


def test_odata_records_that_are_not_a_list_raise_without_showing_the_records() -> None:
    with pytest.raises(HepPaginationError, match="not a list") as caught:
        walk(ODataPaging(), [{"value": {"ssn": "123-45-6789"}}])
    assert "6789" not in str(caught.value)


def test_odata_paging_reads_records_at_an_overridden_path() -> None:
    pages, _, _ = walk(resolve_strategy("odata", records_path="d.items"), [{"d": {"items": [7]}}])
    assert records(pages) == [7]


# --- OData v2 ---------------------------------------------------------------------------------


def test_odata_v2_paging_reads_d_results_follows_d_next_and_counts_a_string_total() -> None:
    bodies = [
        {"d": {"results": [1], "__count": "2", "__next": f"{BASE}?$skiptoken=1"}},
        {"d": {"results": [2]}},
    ]
    pages, requests, _ = walk(ODataV2Paging(), bodies)
    assert records(pages) == [1, 2]
    assert pages[0].total == 2
    assert requests[1].url == f"{BASE}?$skiptoken=1"


def test_odata_v2_paging_accepts_d_as_a_plain_list() -> None:
    pages, _, _ = walk(ODataV2Paging(), [{"d": [{"id": 1}]}])
    assert pages == [Page([{"id": 1}], None)]


def test_odata_v2_page_without_d_raises_a_pagination_error() -> None:
    with pytest.raises(HepPaginationError, match="no 'd' object"):
        walk(ODataV2Paging(), [{"value": []}])


def test_odata_v2_count_that_is_not_a_number_raises_a_pagination_error() -> None:
    with pytest.raises(HepPaginationError, match="d.__count"):
        walk(ODataV2Paging(), [{"d": {"results": [], "__count": "many"}}])


# --- Link header --------------------------------------------------------------------------------


def test_link_header_parser_reads_several_links_with_quoted_and_unquoted_rels() -> None:
    header = '<https://a.test/p?page=2>; rel="next", <https://a.test/p?page=9>; rel=last'
    assert parse_link_header(header) == [
        ("https://a.test/p?page=2", {"rel": "next"}),
        ("https://a.test/p?page=9", {"rel": "last"}),
    ]


def test_link_header_parser_keeps_commas_inside_the_target_and_quoted_values() -> None:
    header = '<https://a.test/p?ids=1,2,3>; rel="next"; title="a, \\"b\\"; c"'
    assert parse_link_header(header) == [
        ("https://a.test/p?ids=1,2,3", {"rel": "next", "title": 'a, "b"; c'})
    ]


def test_link_header_parser_ignores_rel_parameters_after_the_first() -> None:
    assert parse_link_header("</a>; REL=prev; rel=next") == [("/a", {"rel": "prev"})]


def test_link_header_parser_tolerates_empty_elements_and_trailing_semicolons() -> None:
    assert parse_link_header(" , </a>;; rel=next; ,, ") == [("/a", {"rel": "next"})]


@pytest.mark.parametrize("header", ["https://a.test/p; rel=next", "<https://a.test/p", "</a> x"])
def test_link_header_parser_rejects_malformed_headers(header: str) -> None:
    with pytest.raises(HepPaginationError, match="malformed Link header"):
        parse_link_header(header)


def test_link_header_paging_follows_a_next_among_several_relation_types() -> None:
    headers = [
        {"LINK": '</hep/v1/Patients?page=2>; rel="prev next", <https://evil.test/>; rel=about'},
        {"Link": f'<{BASE}?page=3>; rel="NEXT"'},
        {},
    ]
    pages, requests, _ = walk(LinkHeaderPaging(), [[1], [2], [3]], headers=headers)
    assert records(pages) == [1, 2, 3]
    assert [r.url for r in requests[1:]] == [f"{BASE}?page=2", f"{BASE}?page=3"]
    assert all(page.total is None for page in pages)


def test_link_header_paging_ends_when_no_link_is_next() -> None:
    pages, _, _ = walk(LinkHeaderPaging(), [[1]], headers=[{"link": "</x>; rel=prev"}])
    assert pages == [Page([1], None)]


def test_link_header_paging_reads_records_at_a_records_path() -> None:
    pages, _, _ = walk(LinkHeaderPaging(records_path="items"), [{"items": [1]}])
    assert records(pages) == [1]


# --- Cursor -----------------------------------------------------------------------------------


def test_cursor_paging_sends_the_cursor_with_the_original_params_until_it_is_null() -> None:
    bodies = [
        {"data": [1], "next_cursor": "c1"},
        {"data": [2], "next_cursor": "c2"},
        {"data": [3], "next_cursor": None},
    ]
    pages, requests, _ = walk(CursorPaging(), bodies, params={"status": "active"})
    assert records(pages) == [1, 2, 3]
    assert [r.params for r in requests] == [
        {"status": "active"},
        {"status": "active", "cursor": "c1"},
        {"status": "active", "cursor": "c2"},
    ]
    assert all(r.url == BASE for r in requests)


@pytest.mark.parametrize("body", [{"data": [], "next_cursor": ""}, {"data": []}])
def test_cursor_paging_stops_when_the_cursor_is_empty_or_absent(body: dict[str, Any]) -> None:
    pages, _, _ = walk(CursorPaging(), [body])
    assert pages[-1].next is None


def test_cursor_paging_drops_a_previous_cursor_from_the_url_and_reads_a_nested_cursor() -> None:
    strategy = CursorPaging(cursor_field="meta.next", cursor_param="after", records_path="items")
    _, requests, _ = walk(
        strategy, [{"items": [1], "meta": {"next": 5}}, {"items": []}], url=f"{BASE}?after=0&x=1"
    )
    assert requests[1] == PageRequest(f"{BASE}?x=1", {"after": "5"})


def test_cursor_paging_refuses_a_repeated_cursor_as_a_loop() -> None:
    bodies = [{"data": [1], "next_cursor": "same"}] * 3
    with pytest.raises(HepPaginationError, match="loop"):
        walk(CursorPaging(), bodies)


def test_cursor_that_is_an_object_raises_a_pagination_error() -> None:
    with pytest.raises(HepPaginationError, match="cursor 'next_cursor'.*not a string"):
        walk(CursorPaging(), [{"data": [], "next_cursor": {"a": 1}}])


# --- Page number --------------------------------------------------------------------------------


def test_page_number_paging_stops_on_a_short_page_and_reports_the_total() -> None:
    bodies = [{"data": [1, 2], "total": 3}, {"data": [3], "total": 3}]
    pages, requests, _ = walk(PageNumberPaging(page_size=2), bodies, params={"q": "x"})
    assert records(pages) == [1, 2, 3]
    assert [sent(r) for r in requests] == [
        {"q": "x", "page": "1", "page_size": "2"},
        {"q": "x", "page": "2", "page_size": "2"},
    ]
    assert pages[0].total == 3


def test_page_number_paging_stops_on_an_empty_page() -> None:
    pages, _, _ = walk(PageNumberPaging(page_size=1), [{"data": [1]}, {"data": []}])
    assert records(pages) == [1]


def test_page_number_paging_stops_when_total_pages_is_reached() -> None:
    bodies = [{"data": [1], "total_pages": 2}, {"data": [2], "total_pages": 2}]
    pages, requests, _ = walk(PageNumberPaging(page_size=1, first_page=0, page_param="p"), bodies)
    assert records(pages) == [1, 2]
    assert [sent(r)["p"] for r in requests] == ["0", "1"]


# --- Offset -----------------------------------------------------------------------------------


def test_offset_paging_skips_past_each_full_page_and_stops_on_a_short_one() -> None:
    bodies = [{"value": [1, 2]}, {"value": [3, 4]}, {"value": [5]}]
    pages, requests, _ = walk(OffsetPaging(page_size=2), bodies, params={"$filter": "a eq 1"})
    assert records(pages) == [1, 2, 3, 4, 5]
    assert [(sent(r).get("$skip"), sent(r)["$top"]) for r in requests] == [
        (None, "2"),
        ("2", "2"),
        ("4", "2"),
    ]
    assert all(sent(r)["$filter"] == "a eq 1" for r in requests)


def test_offset_paging_documents_that_it_is_safe_only_for_immutable_collections() -> None:
    assert "immutable" in (OffsetPaging.__doc__ or "")


# --- Keyset -----------------------------------------------------------------------------------


def keyset_page(*rows: tuple[str, Any]) -> dict[str, Any]:
    """Build an OData page of records with ``lastModified`` and ``id``."""
    return {"value": [{"lastModified": when, "id": ident} for when, ident in rows]}


def test_keyset_first_request_orders_by_field_and_id_and_keeps_the_callers_filter() -> None:
    request = KeysetPaging(page_size=50).first_request(BASE, {"$filter": "a eq 1"})
    assert request == PageRequest(
        BASE, {"$filter": "a eq 1", "$orderby": "lastModified,id", "$top": "50"}
    )


def test_keyset_filter_breaks_a_tie_on_the_field_by_id_and_doubles_quotes() -> None:
    t1, t2 = "2026-01-01T00:00:00Z", "2026-01-01T00:00:05.123Z"
    bodies = [
        keyset_page((t1, "a"), (t2, "o'b")),
        keyset_page((t2, "o'c"), (t2, "p")),
        keyset_page((t2, "q")),
    ]
    pages, requests, _ = walk(KeysetPaging(page_size=2), bodies)
    assert len(records(pages)) == 5
    assert requests[1].params == {
        "$orderby": "lastModified,id",
        "$top": "2",
        "$filter": f"lastModified gt {t2} or (lastModified eq {t2} and id gt 'o''b')",
    }
    assert requests[2].params is not None
    assert requests[2].params["$filter"] == (
        f"lastModified gt {t2} or (lastModified eq {t2} and id gt 'p')"
    )


def test_keyset_filter_carries_the_original_filter_without_accumulating() -> None:
    t = "2026-01-01T00:00:00+01:00"
    bodies = [keyset_page((t, 1)), keyset_page((t, 2)), keyset_page((t, 3)), {"value": []}]
    original = "(status eq 'x') and (name eq 'a) and (b')"
    pages, requests, _ = walk(KeysetPaging(page_size=1), bodies, params={"$filter": original})
    filters = [sent(r)["$filter"] for r in requests]
    assert filters == [original] + [
        f"({original}) and (lastModified gt {t} or (lastModified eq {t} and id gt {n}))"
        for n in (1, 2, 3)
    ]
    assert pages[-1].next is None


def test_keyset_ignores_the_server_next_link_and_never_sends_skip_or_skiptoken() -> None:
    body = keyset_page(("2026-01-01", "x")) | {"@odata.nextLink": f"{BASE}?$skip=1"}
    _, requests, _ = walk(
        KeysetPaging(page_size=1), [body, {"value": []}], url=f"{BASE}?$skip=10&$skiptoken=z"
    )
    assert requests[1].url == BASE
    assert set(sent(requests[1])) == {"$orderby", "$top", "$filter"}
    assert sent(requests[1])["$filter"] == (
        "lastModified gt 2026-01-01 or (lastModified eq 2026-01-01 and id gt 'x')"
    )


def test_keyset_quotes_a_field_value_that_is_not_a_date() -> None:
    strategy = KeysetPaging(field="name", id_field="code", page_size=1)
    _, requests, _ = walk(strategy, [{"value": [{"name": "O'Hara", "code": 7}]}, {"value": []}])
    assert sent(requests[1])["$filter"] == (
        "name gt 'O''Hara' or (name eq 'O''Hara' and code gt 7)"
    )


@pytest.mark.parametrize("missing", ["lastModified", "id"])
def test_keyset_record_without_its_key_raises_naming_the_field(missing: str) -> None:
    record = {"lastModified": "2026-01-01T00:00:00Z", "id": "a", "name": "secret"}
    del record[missing]
    with pytest.raises(HepPaginationError, match=f"needs '{missing}'") as caught:
        walk(KeysetPaging(page_size=1), [{"value": [record]}])
    assert "secret" not in str(caught.value)


def test_keyset_rejects_a_field_name_that_is_not_an_odata_property() -> None:
    with pytest.raises(HepConfigError, match="field"):
        KeysetPaging(field="a eq 1 or b")


# --- FHIR -------------------------------------------------------------------------------------


def test_fhir_paging_reads_entry_resources_follows_next_and_reads_the_total() -> None:
    bodies = [
        {
            "resourceType": "Bundle",
            "total": 2,
            "entry": [{"resource": {"id": "1"}}, {"search": {"mode": "outcome"}}],
            "link": [
                {"relation": "self", "url": BASE},
                {"relation": "next", "url": "Patients?_getpages=x&_page=2"},
            ],
        },
        {"resourceType": "Bundle", "entry": [{"resource": {"id": "2"}}], "link": []},
    ]
    pages, requests, _ = walk(FhirPaging(), bodies)
    assert records(pages) == [{"id": "1"}, {"id": "2"}]
    assert pages[0].total == 2
    assert requests[1].url == f"{BASE}?_getpages=x&_page=2"


def test_fhir_body_that_is_not_a_bundle_raises_a_pagination_error() -> None:
    with pytest.raises(HepPaginationError, match="not a Bundle"):
        walk(FhirPaging(), [{"resourceType": "OperationOutcome"}])


# --- Walker safety ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "host"),
    [
        ("https://evil.example.net/steal?patient=P-1", "evil.example.net"),
        ("https://api.example.com:8443/hep/v1/Patients?patient=P-1", "api.example.com:8443"),
        ("//evil.example.net/x?patient=P-1", "evil.example.net"),
    ],
)
def test_walker_refuses_a_next_link_to_another_origin_naming_only_the_host(
    link: str, host: str
) -> None:
    with pytest.raises(HepPaginationError, match="must not be sent to another host") as caught:
        walk(ODataPaging(), [{"value": [], "@odata.nextLink": link}])
    assert host in str(caught.value)
    assert "P-1" not in str(caught.value)


def test_walker_refuses_a_scheme_downgrade_to_http() -> None:
    link = "http://api.example.com/hep/v1/Patients?$skiptoken=1"
    with pytest.raises(HepPaginationError, match="downgrades https to http"):
        walk(ODataPaging(), [{"value": [], "@odata.nextLink": link}])


def test_walker_refuses_a_next_link_that_is_not_http() -> None:
    with pytest.raises(HepPaginationError, match="not an absolute http"):
        walk(ODataPaging(), [{"value": [], "@odata.nextLink": "ftp://api.example.com/x"}])


def test_walker_accepts_the_same_origin_with_an_explicit_default_port_and_other_case() -> None:
    link = "HTTPS://API.Example.COM:443/hep/v1/Patients?$skiptoken=1"
    pages, _, _ = walk(ODataPaging(), [{"value": [1], "@odata.nextLink": link}, {"value": [2]}])
    assert records(pages) == [1, 2]


def test_walker_refuses_a_first_request_to_another_origin() -> None:
    walker = PageWalker(ODataPaging(), allowed_origin="http://127.0.0.1:8080")
    with pytest.raises(HepPaginationError, match="127.0.0.1:9090"):
        walker.first("http://127.0.0.1:9090/x", {})
    assert walker.first("http://127.0.0.1:8080/x", {}) == PageRequest("http://127.0.0.1:8080/x")


def test_walker_refuses_a_next_link_equal_to_an_earlier_request_as_a_loop() -> None:
    bodies = [
        {"value": [1], "@odata.nextLink": f"{BASE}?b=2&a=1"},
        {"value": [2], "@odata.nextLink": f"{BASE}?$skiptoken=2"},
        {"value": [3], "@odata.nextLink": f"{BASE}?a=1&b=2"},
    ]
    with pytest.raises(HepPaginationError, match="loop"):
        walk(ODataPaging(), bodies, params={"a": "1", "b": "2"})


def test_walker_stops_cleanly_at_max_pages() -> None:
    body = [{"value": [n], "@odata.nextLink": f"{BASE}?$skiptoken={n}"} for n in range(5)]
    pages, _, walker = walk(ODataPaging(), body, max_pages=2)
    assert records(pages) == [0, 1]
    assert pages[-1].next is None
    assert walker.pages == 2
    assert walker.truncated


def test_walker_that_ends_before_max_pages_is_not_truncated() -> None:
    _, _, walker = walk(ODataPaging(), [{"value": []}], max_pages=2)
    assert not walker.truncated


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"allowed_origin": "api.example.com"}, "allowed_origin"),
        ({"allowed_origin": "ftp://api.example.com"}, "allowed_origin"),
        ({"allowed_origin": ORIGIN, "max_pages": 0}, "max_pages"),
        ({"allowed_origin": ORIGIN, "max_pages": True}, "max_pages"),
    ],
)
def test_walker_rejects_bad_arguments(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(HepConfigError, match=f"^{field}:"):
        PageWalker(ODataPaging(), **kwargs)


@dataclass(frozen=True)
class RelativeStrategy:
    """Return one relative next link, as a user-supplied strategy might."""

    name: str = "mine"

    def first_request(self, url: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(url, dict(params) or None)

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        following = PageRequest("?page=2") if "page=2" not in response.url else None
        return Page(response.body, following)

    def serialize(self) -> dict[str, Any]:
        return {"name": self.name}


def test_walker_resolves_a_user_strategys_relative_next_against_the_response_url() -> None:
    strategy = resolve_strategy(RelativeStrategy())
    pages, requests, _ = walk(strategy, [[1], [2]])
    assert requests[1] == PageRequest(f"{BASE}?page=2")
    assert records(pages) == [1, 2]


def test_walker_can_resume_from_a_request_without_calling_first() -> None:
    walker = PageWalker(CursorPaging(), allowed_origin=ORIGIN)
    request = PageRequest(BASE, {"cursor": "c1"})
    body = {"data": [], "next_cursor": "c1"}
    with pytest.raises(HepPaginationError, match="loop"):
        walker.advance(request, PageResponse(full_url(request), 200, {}, body))


# --- Serialization and resolution -------------------------------------------------------------

EVERY_STRATEGY: list[Any] = [
    ODataPaging(),
    ODataPaging(records_path="d.items"),
    ODataV2Paging(records_path=""),
    LinkHeaderPaging(records_path="."),
    CursorPaging(cursor_field="meta.next", cursor_param="after", records_path="items"),
    PageNumberPaging(page_param="p", size_param="n", page_size=10, first_page=0),
    OffsetPaging(skip_param="skip", top_param="top", page_size=25),
    KeysetPaging(field="changedAt", id_field="uuid", page_size=7, records_path="value"),
    FhirPaging(),
]


@pytest.mark.parametrize("strategy", EVERY_STRATEGY, ids=lambda s: s.name)
def test_serialize_and_deserialize_round_trip_to_an_equal_strategy(strategy: Any) -> None:
    data = json.loads(json.dumps(strategy.serialize()))
    assert data["name"] == strategy.name
    assert deserialize_strategy(data) == strategy
    assert resolve_strategy(data) == strategy


def test_every_strategy_name_resolves_to_a_strategy_of_that_name() -> None:
    assert set(STRATEGY_NAMES) == {
        "odata", "odata_v2", "link_header", "cursor", "page", "offset", "keyset", "fhir"
    }  # fmt: skip
    for name in STRATEGY_NAMES:
        assert resolve_strategy(name).name == name


def test_resolve_strategy_overrides_the_records_path() -> None:
    assert resolve_strategy("cursor", records_path="items") == CursorPaging(records_path="items")
    assert resolve_strategy({"name": "page", "page_size": 5}, records_path="") == PageNumberPaging(
        page_size=5, records_path=""
    )


def test_resolve_strategy_returns_a_user_strategy_as_is() -> None:
    mine = RelativeStrategy()
    assert resolve_strategy(mine) is mine


@pytest.mark.parametrize(
    ("pagination", "message"),
    [
        ("scroll", "unknown pagination strategy 'scroll'; choose one of: odata, odata_v2"),
        ({"name": "nope"}, "choose one of: .*keyset"),
        ({"page_size": 5}, "unknown pagination strategy"),
        ({"name": "offset", "limit": 5}, "unknown option.* limit for 'offset'"),
        (42, "expected a strategy name"),
        (ODataPaging, "expected a strategy name"),
    ],
)
def test_resolve_strategy_rejects_bad_input_with_a_config_error(
    pagination: Any, message: str
) -> None:
    with pytest.raises(HepConfigError, match=message):
        resolve_strategy(pagination)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "page", "page_size": 0}, "page_size"),
        ({"name": "offset", "page_size": "100"}, "page_size"),
        ({"name": "page", "first_page": -1}, "first_page"),
        ({"name": "cursor", "cursor_param": ""}, "cursor_param"),
        ({"name": "odata", "records_path": 3}, "records_path"),
    ],
)
def test_deserialize_strategy_rejects_bad_field_values_naming_the_field(
    data: dict[str, Any], field: str
) -> None:
    with pytest.raises(HepConfigError, match=f"^{field}:"):
        deserialize_strategy(data)


def test_resolve_strategy_refuses_to_override_a_user_strategys_records_path() -> None:
    with pytest.raises(HepConfigError, match="^records_path:"):
        resolve_strategy(RelativeStrategy(), records_path="x")


# --- Window helpers -----------------------------------------------------------------------------


def test_format_odata_datetime_writes_utc_with_z_and_microseconds_only_when_non_zero() -> None:
    assert format_odata_datetime(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_odata_datetime(datetime(2026, 1, 1, 2, 0, 0, 500, tzinfo=plus_two)) == (
        "2026-01-01T00:00:00.000500Z"
    )


@pytest.mark.parametrize(
    "text",
    ["2026-01-01T00:00:00Z", "2026-01-01 00:00:00+00:00", "2026-01-01T01:00:00+01:00"],
)
def test_format_odata_datetime_accepts_iso_strings_including_a_rendered_data_interval(
    text: str,
) -> None:
    assert format_odata_datetime(text) == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("value", [datetime(2026, 1, 1), "2026-01-01 00:00:00"])
def test_format_odata_datetime_refuses_a_naive_datetime(value: Any) -> None:
    with pytest.raises(HepConfigError, match="timezone-aware"):
        format_odata_datetime(value)


def test_format_odata_datetime_refuses_a_string_that_is_not_iso() -> None:
    with pytest.raises(HepConfigError, match="not an ISO 8601 datetime"):
        format_odata_datetime("yesterday")


def test_window_filter_is_half_open_on_the_field() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert window_filter("lastModified", start, start + timedelta(hours=1)) == (
        "lastModified ge 2026-01-01T00:00:00Z and lastModified lt 2026-01-01T01:00:00Z"
    )


@pytest.mark.parametrize("hours", [0, -1])
def test_window_filter_refuses_a_start_that_is_not_before_the_end(hours: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(HepConfigError, match="^window: start .* must be before end"):
        window_filter("lastModified", start, start + timedelta(hours=hours))


def test_window_filter_refuses_a_field_that_is_not_a_property_name() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(HepConfigError, match="^field:"):
        window_filter("x or 1 eq 1", start, start + timedelta(hours=1))


def test_combine_filters_parenthesises_both_filters_or_returns_the_extra_one() -> None:
    assert combine_filters("a eq 1 or b eq 2", "c eq 3") == "(a eq 1 or b eq 2) and (c eq 3)"
    assert combine_filters(None, "c eq 3") == "c eq 3"
    assert combine_filters("  ", "c eq 3") == "c eq 3"


def test_split_window_makes_contiguous_slices_on_whole_seconds() -> None:
    start = datetime(2026, 1, 1, 0, 0, 0, 250_000, tzinfo=UTC)
    end = start + timedelta(seconds=10)
    slices = split_window(start, end, 3)
    assert slices[0][0] == start
    assert slices[-1][1] == end
    assert [b.microsecond for _, b in slices[:-1]] == [0, 0]
    assert all(a[1] == b[0] for a, b in pairwise(slices))


def test_split_window_returns_fewer_slices_for_a_window_shorter_than_the_slice_count() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert len(split_window(start, start + timedelta(seconds=3), 10)) == 3
    assert split_window(start, start + timedelta(milliseconds=5), 4) == [
        (start, start + timedelta(milliseconds=5))
    ]


def test_split_window_rejects_bad_arguments() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(HepConfigError, match="^slices:"):
        split_window(start, start + timedelta(hours=1), 0)
    with pytest.raises(HepConfigError, match="^window:"):
        split_window(start, start, 2)


@settings(max_examples=200, deadline=None, database=None)
@given(
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    length=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400))
    | st.integers(1, 10**6).map(lambda seconds: timedelta(seconds=seconds)),
    slices=st.integers(min_value=1, max_value=200),
)
def test_split_window_slices_cover_the_window_exactly_without_overlap(
    start: datetime, length: timedelta, slices: int
) -> None:
    end = start + length
    parts = split_window(start, end, slices)
    assert parts[0][0] == start
    assert parts[-1][1] == end
    assert all(low < high for low, high in parts)
    assert all(a[1] == b[0] for a, b in pairwise(parts))
    assert all(high.microsecond == 0 for high, _ in parts[1:])
    expected = slices if length >= timedelta(seconds=slices) else None
    assert len(parts) <= slices
    if expected is not None:
        assert len(parts) == expected


@pytest.mark.parametrize(
    ("value", "iso"),
    [
        ("/Date(1767225600000)/", "2026-01-01T00:00:00Z"),
        ("/Date(1767225600000+0000)/", "2026-01-01T00:00:00Z"),
        ("/Date(1767225600123-0130)/", "2026-01-01T00:00:00.123Z"),
        ("/Date(-1000)/", "1969-12-31T23:59:59Z"),
    ],
)
def test_odata_v2_dates_convert_to_iso_in_utc(value: str, iso: str) -> None:
    assert odata_v2_date_to_iso(value) == iso


@pytest.mark.parametrize("value", ["2026-01-01", "/Date(abc)/", "/Date(99999999999999999)/", 5])
def test_odata_v2_bad_dates_raise_a_pagination_error(value: Any) -> None:
    with pytest.raises(HepPaginationError):
        odata_v2_date_to_iso(value)


def test_convert_odata_v2_dates_converts_matching_top_level_strings_only() -> None:
    record = {"a": "/Date(0)/", "b": "/Date(x", "c": {"d": "/Date(0)/"}, "e": 1}
    converted = convert_odata_v2_dates(record)
    assert converted == {"a": "1970-01-01T00:00:00Z", "b": "/Date(x", "c": record["c"], "e": 1}
    assert record["a"] == "/Date(0)/"


def test_convert_odata_v2_dates_with_fields_requires_dates_and_names_the_bad_field() -> None:
    assert convert_odata_v2_dates({"a": "/Date(0)/", "b": None}, ["a", "b", "z"]) == {
        "a": "1970-01-01T00:00:00Z",
        "b": None,
    }
    with pytest.raises(HepPaginationError, match="field 'b'"):
        convert_odata_v2_dates({"a": "/Date(0)/", "b": "soon"}, ["a", "b"])


# --- Malformed bodies -------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        *("value", "d", "results", "__next", "__count", "@odata.nextLink", "@odata.count"),
        *("data", "next_cursor", "total", "total_pages", "resourceType", "entry", "resource"),
        *("link", "relation", "url", "id", "lastModified", "items"),
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(
        ["Bundle", "next", BASE, "/x?y=1", "https://evil.test/", "http://[::1", "2026-01-01"]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(max_size=4), inner),
    max_leaves=15,
)
RECORDS = st.lists(
    JSON | st.fixed_dictionaries({}, optional={"lastModified": SCALARS, "id": SCALARS, "x": JSON}),
    max_size=3,
)
NEAR_VALID = st.one_of(
    st.fixed_dictionaries(
        {"value": RECORDS}, optional={"@odata.nextLink": SCALARS, "@odata.count": SCALARS}
    ),
    st.fixed_dictionaries(
        {"d": st.fixed_dictionaries({}, optional={"results": RECORDS, "__next": SCALARS})}
    ),
    st.fixed_dictionaries(
        {"data": RECORDS},
        optional={"next_cursor": SCALARS, "total": SCALARS, "total_pages": SCALARS},
    ),
    st.fixed_dictionaries(
        {"resourceType": st.just("Bundle")},
        optional={
            "entry": st.lists(st.fixed_dictionaries({}, optional={"resource": JSON})) | JSON,
            "link": st.lists(
                st.fixed_dictionaries(
                    {"relation": st.just("next") | SCALARS}, optional={"url": SCALARS}
                )
            )
            | JSON,
            "total": SCALARS,
        },
    ),
)
LINKS = st.text(alphabet='<>;,="\\ relnxt/:a', max_size=30) | st.sampled_from(
    ["</x>; rel=next", f"<{BASE}>; rel=next", "<http://[::1>; rel=next"]
)
FUZZED = [
    ODataPaging(),
    ODataV2Paging(),
    LinkHeaderPaging(),
    CursorPaging(),
    PageNumberPaging(page_size=1),
    OffsetPaging(page_size=1),
    KeysetPaging(page_size=1),
    FhirPaging(),
    CursorPaging(cursor_field="a.b", records_path=""),
]


@settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(body=JSON | NEAR_VALID, link=LINKS, index=st.integers(0, len(FUZZED) - 1))
def test_any_json_body_yields_a_page_or_a_pagination_error_only(
    body: Any, link: str, index: int
) -> None:
    walker = PageWalker(FUZZED[index], allowed_origin=ORIGIN)
    request = walker.first(BASE, {"$filter": "a eq 1"})
    try:
        page = walker.advance(request, PageResponse(full_url(request), 200, {"Link": link}, body))
    except HepPaginationError:
        return
    assert isinstance(page.records, list)
    assert page.next is None or isinstance(page.next, PageRequest)


# --- Isolation ----------------------------------------------------------------------------------


def test_importing_the_module_imports_neither_airflow_nor_requests_nor_httpx() -> None:
    code = (
        "import sys, airflow_provider_hep.pagination, airflow_provider_hep.window; "
        "print(sorted(m for m in ('airflow', 'requests', 'httpx') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("strategy", EVERY_STRATEGY, ids=lambda s: s.name)
def test_every_built_in_strategy_is_frozen_and_satisfies_the_protocol(strategy: Any) -> None:
    with pytest.raises(FrozenInstanceError):
        strategy.records_path = "x"
    assert isinstance(strategy, PagingStrategy)
