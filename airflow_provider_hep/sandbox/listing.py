"""Parse list query options, select a page from a collection and compute its next link.

Query flags (all styles): ``_style`` = odata (default) | odata_v2 | link_header | cursor | page |
fhir; ``$filter``; ``$orderby`` = ``lastModified,id`` (default) | ``lastModified`` | ``id``;
``$top`` (also ``page_size``, ``_count``); ``$skip``; ``$skiptoken`` / ``cursor``;
``$count=true`` / ``$inlinecount=allpages``; ``page`` (page style); ``_links=relative``;
``_next=skip``. Every option except the position ones is preserved in next links.
"""

from __future__ import annotations

import base64
import random
from bisect import bisect_left
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode

from .data import KEY_MASK, KEY_SPAN, Collection
from .odata_filter import CompiledFilter, FilterError, compile_filter

STYLES = ("odata", "odata_v2", "link_header", "cursor", "page", "fhir")
_POSITION = {"$skiptoken", "cursor", "$skip", "page"}
_SYSTEM = {"$filter", "$orderby", "$top", "$skip", "$skiptoken", "$count", "$inlinecount"}
_ORDERS = {"lastmodified,id": "lm", "lastmodified": "lm", "id": "id"}


class QueryError(ValueError):
    """Reject a list query option (answered as 400 BadRequest)."""


@dataclass
class ListQuery:
    """Hold the parsed options of one list request."""

    style: str = "odata"
    flt: CompiledFilter = field(default_factory=lambda: compile_filter(None, frozenset()))
    order: str = "lm"
    size: int = 100
    skip: int | None = None
    after: int | None = None
    page: int | None = None
    count: bool = False
    relative: bool = False
    next_skip: bool = False
    kept: list[tuple[str, str]] = field(default_factory=list)


def encode_position(order: str, key: int) -> str:
    """Encode an opaque keyset position (``$skiptoken`` / ``cursor``)."""
    return base64.urlsafe_b64encode(f"v1.{order}.{key}".encode()).decode().rstrip("=")


def decode_position(order: str, token: str) -> int:
    """Decode a keyset position for ``order``; raise QueryError if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        version, token_order, key = raw.split(".")
        if version != "v1" or token_order != order:
            raise ValueError(raw)
        return int(key)
    except ValueError:
        raise QueryError(f"invalid $skiptoken/cursor {token!r} (for $orderby {order})") from None


def _int_option(name: str, value: str, minimum: int) -> int:
    if not value.isdigit() or int(value) < minimum:
        raise QueryError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _order(value: str) -> str:
    norm = ",".join(part.strip().removesuffix(" asc").strip() for part in value.split(","))
    order = _ORDERS.get(norm.lower())
    if order is None:
        raise QueryError(f"unsupported $orderby {value!r}; use lastModified,id or id")
    return order


def parse_list_query(coll: Collection, params: list[tuple[str, str]], page_size: int) -> ListQuery:
    """Validate the list options of a request against ``coll``."""
    opts = dict(params)
    q = ListQuery(kept=[(k, v) for k, v in params if k not in _POSITION])
    unknown = [k for k in opts if k.startswith("$") and k not in _SYSTEM]
    if unknown:
        raise QueryError(f"unsupported system query option {unknown[0]!r}")
    q.style = opts.get("_style", "odata")
    if q.style not in STYLES:
        raise QueryError(f"unknown _style {q.style!r}; one of {', '.join(STYLES)}")
    try:
        q.flt = compile_filter(opts.get("$filter"), coll.fields)
    except FilterError as exc:
        raise QueryError(str(exc)) from None
    q.order = _order(opts.get("$orderby", "lastModified,id"))
    size = opts.get("$top", opts.get("page_size", opts.get("_count")))
    q.size = page_size if size is None else min(_int_option("$top", size, 0), page_size)
    if "$skip" in opts:
        q.skip = _int_option("$skip", opts["$skip"], 0)
    token = opts.get("$skiptoken", opts.get("cursor"))
    if token:
        q.after = decode_position(q.order, token)
    if q.style == "page":
        q.page = _int_option("page", opts.get("page", "1"), 1)
        q.skip = (q.page - 1) * q.size
    q.count = opts.get("$count", "").lower() == "true" or opts.get("$inlinecount") == "allpages"
    q.relative = opts.get("_links") == "relative"
    q.next_skip = opts.get("_next") == "skip"
    return q


def _scan_lm(coll: Collection, q: ListQuery, limit: int) -> list[int]:
    flt, keys = q.flt, coll.keys
    lo, hi = coll.lm_range(flt)
    if q.after is not None:
        lo = max(lo, coll.after(q.after))
    offset = q.skip or 0
    if flt.exact:
        start = lo + offset
        return [key & KEY_MASK for key in keys[start : min(hi, start + limit)]]
    found: list[int] = []
    pos, chunk = lo, 256
    while pos < hi and len(found) < limit + offset:
        for key in keys[pos : min(hi, pos + chunk)]:
            if coll.matches(flt, key & KEY_MASK):
                found.append(key & KEY_MASK)
        pos, chunk = pos + chunk, min(chunk * 2, 65536)
    return found[offset : offset + limit]


def _candidates_by_id(coll: Collection, flt: CompiledFilter, first: int) -> list[int] | range:
    lo, hi = coll.lm_range(flt)
    if (flt.lo is not None or flt.hi is not None) and hi - lo < (len(coll.blobs) - first) // 4:
        ordered = sorted(key & KEY_MASK for key in coll.keys[lo:hi])
        return ordered[bisect_left(ordered, first) :]
    return range(first, len(coll.blobs))


def _scan_id(coll: Collection, q: ListQuery, limit: int) -> list[int]:
    first = 0 if q.after is None else q.after + 1
    found: list[int] = []
    offset = q.skip or 0
    for idx in _candidates_by_id(coll, q.flt, first):
        if coll.blobs[idx] is not None and coll.matches(q.flt, idx):
            found.append(idx)
            if len(found) >= limit + offset:
                break
    return found[offset:]


def select_page(coll: Collection, q: ListQuery) -> tuple[list[int], bool]:
    """Return the page's record indexes and whether more records follow."""
    scan = _scan_lm if q.order == "lm" else _scan_id
    idxs = scan(coll, q, q.size + 1)
    return idxs[: q.size], len(idxs) > q.size


def position_key(coll: Collection, order: str, idx: int) -> int:
    """Return the keyset key of a record for ``order``."""
    return coll.lm[idx] * KEY_SPAN + idx if order == "lm" else idx


def query_string(pairs: list[tuple[str, str]]) -> str:
    """Encode query pairs, keeping ``$ ' ( ) , :`` readable and ``+`` percent-encoded."""
    return urlencode(pairs, quote_via=quote, safe="$'(),:")


def next_link(
    coll: Collection, q: ListQuery, idxs: list[int], more: bool, base_url: str
) -> str | None:
    """Build the next-page URL (absolute unless ``_links=relative``), or None."""
    if not more or not idxs or q.style == "page":
        return None
    if q.next_skip:
        pairs = [*q.kept, ("$skip", str((q.skip or 0) + len(idxs)))]
        if q.after is not None:
            pairs.append(("$skiptoken", encode_position(q.order, q.after)))
    elif q.skip is not None:
        return None
    else:
        name = "cursor" if q.style == "cursor" else "$skiptoken"
        pairs = [*q.kept, (name, encode_position(q.order, position_key(coll, q.order, idxs[-1])))]
    target = f"{coll.name}?{query_string(pairs)}"
    return target if q.relative else f"{base_url}/{target}"


def concurrent_modify(
    coll: Collection, q: ListQuery, first_idx: int | None, count: int, rng: random.Random, now: int
) -> list[str]:
    """Touch up to ``count`` matching records, preferring ones sorted before ``first_idx``."""
    lo, hi = coll.lm_range(q.flt) if q.order == "lm" else (0, len(coll.blobs))
    if first_idx is not None:
        split = (
            bisect_left(coll.keys, position_key(coll, "lm", first_idx))
            if q.order == "lm"
            else first_idx
        )
        chosen = _sample(coll, q, lo, min(max(split, lo), hi), count, rng)
        if chosen:
            return _touch(coll, chosen, now)
    return _touch(coll, _sample(coll, q, lo, hi, count, rng), now)


def _sample(
    coll: Collection, q: ListQuery, lo: int, hi: int, count: int, rng: random.Random
) -> list[int]:
    chosen: list[int] = []
    for _ in range(50 * count if hi > lo else 0):
        pos = rng.randrange(lo, hi)
        idx = coll.keys[pos] & KEY_MASK if q.order == "lm" else pos
        if idx not in chosen and coll.blobs[idx] is not None and coll.matches(q.flt, idx):
            chosen.append(idx)
            if len(chosen) >= count:
                break
    return chosen


def _touch(coll: Collection, idxs: list[int], now: int) -> list[str]:
    for idx in idxs:
        coll.touch(idx, now)
    return [coll.id_of(idx) for idx in idxs]
