"""Render a selected page in each paging style by joining pre-serialized record bytes."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .data import Collection
from .listing import ListQuery, encode_position, position_key
from .responses import Response
from .timeutil import format_iso


@dataclass
class Page:
    """Hold what a renderer needs: records, next link, counts and URLs."""

    coll: Collection
    q: ListQuery
    idxs: list[int]
    more: bool
    next_url: str | None
    count: int | None
    base_url: str
    self_url: str


def _blobs(page: Page) -> list[bytes]:
    blobs = page.coll.blobs
    return [blobs[i] or b"{}" for i in page.idxs]


def _jstr(value: str | None) -> bytes:
    return json.dumps(value).encode()


def render_odata(page: Page) -> Response:
    """Render an OData v4 answer (``value``, ``@odata.count``, ``@odata.nextLink``)."""
    parts = [b'{"@odata.context":', _jstr(f"{page.base_url}/$metadata#{page.coll.name}")]
    if page.count is not None:
        parts += [b',"@odata.count":', str(page.count).encode()]
    parts += [b',"value":[', b",".join(_blobs(page)), b"]"]
    if page.next_url is not None:
        parts += [b',"@odata.nextLink":', _jstr(page.next_url)]
    parts.append(b"}")
    return Response(200, b"".join(parts), [("OData-Version", "4.0")])


def _v2_blob(coll: Collection, idx: int) -> bytes:
    lm = coll.lm[idx]
    old = b'"lastModified":"' + format_iso(lm).encode() + b'"'
    new = b'"lastModified":"\\/Date(' + str(lm * 1000).encode() + b')\\/"'
    return (coll.blobs[idx] or b"{}").replace(old, new, 1)


def render_odata_v2(page: Page) -> Response:
    """Render an OData v2 answer (``d.results``, ``d.__count``, ``d.__next``, /Date(ms)/)."""
    results = b",".join(_v2_blob(page.coll, i) for i in page.idxs)
    parts = [b'{"d":{"results":[', results, b"]"]
    if page.count is not None:
        parts += [b',"__count":', _jstr(str(page.count))]
    if page.next_url is not None:
        parts += [b',"__next":', _jstr(page.next_url)]
    parts.append(b"}}")
    return Response(200, b"".join(parts), [("DataServiceVersion", "2.0")])


def render_link_header(page: Page) -> Response:
    """Render a bare JSON array with an RFC 8288 ``Link: <...>; rel="next"`` header."""
    body = b"[" + b",".join(_blobs(page)) + b"]"
    headers = [] if page.next_url is None else [("Link", f'<{page.next_url}>; rel="next"')]
    if page.count is not None:
        headers.append(("X-Total-Count", str(page.count)))
    return Response(200, body, headers)


def render_cursor(page: Page) -> Response:
    """Render ``{"data": [...], "next_cursor": ...}``."""
    cursor = None
    if page.more and page.idxs and page.q.skip is None:
        key = position_key(page.coll, page.q.order, page.idxs[-1])
        cursor = encode_position(page.q.order, key)
    body = b'{"data":[' + b",".join(_blobs(page)) + b'],"next_cursor":' + _jstr(cursor) + b"}"
    return Response(200, body)


def render_page(page: Page) -> Response:
    """Render page-number paging with ``total`` and ``total_pages``."""
    total, size = page.count or 0, page.q.size
    pages = -(-total // size) if size else 0
    meta = f'"page":{page.q.page},"page_size":{size},"total":{total},"total_pages":{pages}'
    body = b'{"data":[' + b",".join(_blobs(page)) + b"]," + meta.encode() + b"}"
    return Response(200, body)


def render_fhir(page: Page) -> Response:
    """Render a FHIR ``searchset`` Bundle with self/next links and ``fullUrl`` entries."""
    coll = page.coll
    links = [{"relation": "self", "url": page.self_url}]
    if page.next_url is not None:
        links.append({"relation": "next", "url": page.next_url})
    rtype = b'{"resourceType":"' + coll.resource_type.encode() + b'",'
    url_base = f"{page.base_url}/{coll.name}/"
    entries = [
        b'{"fullUrl":' + _jstr(url_base + coll.id_of(i)) + b',"resource":' + rtype + blob[1:] + b"}"
        for i, blob in zip(page.idxs, _blobs(page), strict=True)
    ]
    head = {"resourceType": "Bundle", "type": "searchset", "total": page.count, "link": links}
    body = json.dumps(head, separators=(",", ":")).encode()[:-1]
    body += b',"entry":[' + b",".join(entries) + b"]}"
    return Response(200, body, content_type="application/fhir+json")


RENDERERS = {
    "odata": render_odata,
    "odata_v2": render_odata_v2,
    "link_header": render_link_header,
    "cursor": render_cursor,
    "page": render_page,
    "fhir": render_fhir,
}
NEEDS_COUNT = frozenset({"page", "fhir"})
