"""Answer the read side of the resource API: lists, single records and redirects."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from .faults import Fault
from .listing import QueryError, concurrent_modify, next_link, parse_list_query, select_page
from .responses import Response, odata_error
from .state import GENERATED, SandboxState
from .styles import NEEDS_COUNT, RENDERERS, Page

Decide = Callable[[frozenset[str]], list[Fault]]
_FOREIGN = frozenset({"foreign_next"})
_MODIFY = frozenset({"modify"})
_LINK_STYLES = frozenset({"odata", "odata_v2", "link_header", "fhir"})
_REDIRECT_CODES = {301, 302, 303, 307, 308}


def foreign_url(url: str, host: str | None, port: int) -> str:
    """Move ``url`` to another origin (default ``http://evil.example.invalid:<port>``)."""
    target = host or f"evil.example.invalid:{port}"
    if "://" not in target:
        target = f"http://{target}"
    dest = urlsplit(target)
    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/") else f"/api/v1/{parts.path}"
    return urlunsplit((dest.scheme, dest.netloc, path, parts.query, ""))


def list_records(
    state: SandboxState,
    name: str,
    params: list[tuple[str, str]],
    raw_target: str,
    decide: Decide,
) -> Response:
    """Answer ``GET /api/v1/<collection>`` in the requested paging style."""
    coll = state.collection(name)
    if coll is None:
        return odata_error(404, "NotFound", f"no collection {name!r}")
    try:
        q = parse_list_query(coll, params, state.config.page_size)
    except QueryError as exc:
        return odata_error(400, "BadRequest", str(exc))
    with state.lock:
        idxs, more = select_page(coll, q)
        count = coll.count(q.flt) if q.count or q.style in NEEDS_COUNT else None
        url = next_link(coll, q, idxs, more, state.base_url)
        if url is not None and q.style in _LINK_STYLES:
            for fault in decide(_FOREIGN):
                url = foreign_url(url, fault.host, int(state.origin.rsplit(":", 1)[1]))
        page = Page(coll, q, idxs, more, url, count, state.base_url, state.origin + raw_target)
        response = RENDERERS[q.style](page)
        if name in GENERATED:
            for fault in decide(_MODIFY):
                first = idxs[0] if idxs else None
                concurrent_modify(
                    coll, q, first, fault.count or 1, state.modify_rng, int(state.now())
                )
    return response


def get_record(state: SandboxState, name: str, rid: str) -> Response:
    """Answer ``GET /api/v1/<collection>/<id>``."""
    coll = state.collection(name)
    if coll is None:
        return odata_error(404, "NotFound", f"no collection {name!r}")
    with state.lock:
        idx = coll.idx_of(rid)
        blob = None if idx is None else coll.blobs[idx]
    if blob is None:
        return odata_error(404, "NotFound", f"no {name} record with id {rid!r}")
    return Response(200, blob)


def redirect(params: dict[str, str]) -> Response:
    """Answer ``GET /api/v1/redirect?to=<url>&code=302`` with a redirect."""
    target = params.get("to")
    code = params.get("code", "302")
    if not target or not code.isdigit() or int(code) not in _REDIRECT_CODES:
        return odata_error(400, "BadRequest", "need to=<url> and code in 301/302/303/307/308")
    return Response(int(code), b"", [("Location", target)], content_type=None)
