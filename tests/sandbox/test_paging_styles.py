"""Every paging style walks the whole collection exactly once; next links keep the query."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

STYLES = ["odata", "odata_v2", "link_header", "cursor", "fhir"]


@pytest.fixture
def sandbox(hep_sandbox_factory):
    return hep_sandbox_factory(records=250, page_size=40)


@pytest.fixture
def session(sandbox, session_for):
    return session_for(sandbox)


def all_ids(sandbox, collection="patients"):
    return sorted(record["id"] for record in sandbox.records(collection))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("links", ["absolute", "relative"])
def test_following_next_links_yields_each_record_exactly_once(
    sandbox, session, follow, style, links
):
    url = f"{sandbox.base_url}/patients?_style={style}&_links={links}"

    records, urls = follow(session, url, style)

    ids = [record["id"] for record in records]
    assert len(ids) == len(set(ids)) == 250
    assert sorted(ids) == all_ids(sandbox)
    assert len(urls) == 7
    if style != "cursor":
        assert all(f"_style={style}" in u and f"_links={links}" in u for u in urls[1:])


@pytest.mark.parametrize("links", ["absolute", "relative"])
def test_next_links_are_absolute_by_default_and_relative_on_request(sandbox, session, links):
    answer = session.get(f"{sandbox.base_url}/patients?_links={links}", timeout=10)

    next_link = answer.json()["@odata.nextLink"]

    if links == "absolute":
        assert next_link.startswith(f"{sandbox.base_url}/patients?")
    else:
        assert next_link.startswith("patients?")


def test_pages_come_in_last_modified_then_id_order(sandbox, session, follow):
    records, _ = follow(session, f"{sandbox.base_url}/patients")

    keys = [(r["lastModified"], r["id"]) for r in records]
    assert keys == sorted(keys)
    assert len({r["lastModified"] for r in records}) < len(records), "ties must exist"


def test_orderby_id_pages_in_id_order(sandbox, session, follow):
    records, _ = follow(session, f"{sandbox.base_url}/appointments?$orderby=id")

    ids = [r["id"] for r in records]
    assert ids == all_ids(sandbox, "appointments")


def test_next_links_keep_filter_orderby_count_and_top(sandbox, session):
    params = {
        "$filter": "lastModified ge 2026-01-01T06:00:00Z",
        "$orderby": "lastModified,id",
        "$count": "true",
        "$top": "10",
    }

    answer = session.get(f"{sandbox.base_url}/patients", params=params, timeout=10)

    body = answer.json()
    query = parse_qs(urlsplit(body["@odata.nextLink"]).query)
    assert {k: v[0] for k, v in query.items() if k != "$skiptoken"} == params
    assert query["$skiptoken"][0]
    assert len(body["value"]) == 10
    expected = len(sandbox.truth("patients", "2026-01-01T06:00:00Z")["current"])
    assert body["@odata.count"] == expected


def test_top_above_the_server_page_size_is_capped(sandbox, session):
    answer = session.get(f"{sandbox.base_url}/patients?$top=1000", timeout=10)

    assert len(answer.json()["value"]) == 40


def test_client_skip_top_paging_gets_no_next_link(sandbox, session):
    answer = session.get(f"{sandbox.base_url}/patients?$skip=240&$top=20", timeout=10)

    body = answer.json()
    assert len(body["value"]) == 10
    assert "@odata.nextLink" not in body


def test_client_skip_paging_walks_the_collection(sandbox, session):
    ids = []
    for skip in range(0, 260, 40):
        answer = session.get(f"{sandbox.base_url}/patients?$skip={skip}&$top=40", timeout=10)
        ids += [r["id"] for r in answer.json()["value"]]

    assert sorted(ids) == all_ids(sandbox)


def test_next_skip_mode_emits_offset_next_links(sandbox, session, follow):
    records, urls = follow(session, f"{sandbox.base_url}/patients?_next=skip")

    assert [parse_qs(urlsplit(u).query)["$skip"][0] for u in urls[1:]] == [
        "40",
        "80",
        "120",
        "160",
        "200",
        "240",
    ]
    assert sorted(r["id"] for r in records) == all_ids(sandbox)


def test_odata_v2_uses_date_literals_inline_count_and_next(sandbox, session, follow):
    url = f"{sandbox.base_url}/patients?_style=odata_v2&$inlinecount=allpages"

    body = session.get(url, timeout=10).json()["d"]

    assert body["__count"] == "250"
    assert body["__next"].startswith(sandbox.base_url)
    first = body["results"][0]
    assert first["lastModified"].startswith("/Date(")
    millis = int(first["lastModified"][6:-2])
    original = next(r for r in sandbox.records("patients") if r["id"] == first["id"])
    iso = datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert iso == original["lastModified"]


def test_link_header_style_returns_a_bare_array_with_a_next_link_header(sandbox, session):
    answer = session.get(f"{sandbox.base_url}/patients?_style=link_header", timeout=10)

    assert isinstance(answer.json(), list)
    assert answer.links["next"]["url"].startswith(f"{sandbox.base_url}/patients?")


def test_page_style_reports_totals_and_walks_by_page_number(sandbox, session):
    ids = []
    for number in range(1, 6):
        url = f"{sandbox.base_url}/patients?_style=page&page={number}&page_size=60"
        body = session.get(url, timeout=10).json()
        ids += [r["id"] for r in body["data"]]

    assert {k: body[k] for k in ("page", "page_size", "total", "total_pages")} == {
        "page": 5,
        "page_size": 40,
        "total": 250,
        "total_pages": 7,
    }
    assert len(ids) == 200


def test_fhir_bundles_wrap_resources_with_full_urls_and_links(sandbox, session):
    body = session.get(f"{sandbox.base_url}/care-plans?_style=fhir", timeout=10).json()

    assert body["resourceType"] == "Bundle"
    assert body["type"] == "searchset"
    assert body["total"] == 250
    relations = [link["relation"] for link in body["link"]]
    assert relations == ["self", "next"]
    entry = body["entry"][0]
    assert entry["resource"]["resourceType"] == "CarePlan"
    assert entry["fullUrl"] == f"{sandbox.base_url}/care-plans/{entry['resource']['id']}"


def test_cursor_style_ends_with_a_null_cursor(sandbox, session):
    answer = session.get(f"{sandbox.base_url}/patients?_style=cursor&$skip=230", timeout=10)

    assert answer.json()["next_cursor"] is None
    assert len(answer.json()["data"]) == 20


@pytest.mark.parametrize(
    "query",
    ["_style=xml", "$orderby=lastModified desc", "$skiptoken=garbage", "$top=-1", "$select=id"],
)
def test_bad_list_options_get_400_bad_request(sandbox, session, query):
    answer = session.get(f"{sandbox.base_url}/patients?{query}", timeout=10)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "BadRequest"


def test_a_skiptoken_from_another_ordering_is_rejected(sandbox, session):
    first = session.get(f"{sandbox.base_url}/patients", timeout=10).json()
    token = parse_qs(urlsplit(first["@odata.nextLink"]).query)["$skiptoken"][0]

    answer = session.get(
        f"{sandbox.base_url}/patients", params={"$orderby": "id", "$skiptoken": token}, timeout=10
    )

    assert answer.status_code == 400
