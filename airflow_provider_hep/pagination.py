"""Page through HEP collections without I/O: strategies decide, the walker keeps it safe.

A strategy is a small frozen dataclass. ``first_request()`` builds the first request,
``parse()`` turns one decoded response into a :class:`Page` (its records and the next request),
and ``serialize()`` / :func:`deserialize_strategy` carry it through a trigger as plain JSON.
The sync (requests) and async (httpx) hooks both drive strategies through a :class:`PageWalker`,
which refuses next links to another origin or to plain http, detects loops and caps the pages.

Strategies read only what they need: records by reference, and for keyset paging the last
record of a page. Malformed pages raise ``HepPaginationError`` naming the problem and the URL
path only, never the query string (it can hold patient identifiers) nor record contents.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, ClassVar, Protocol, runtime_checkable
from urllib.parse import parse_qsl, unquote_plus, urljoin, urlsplit, urlunsplit

from airflow_provider_hep.exceptions import HepConfigError, HepPaginationError
from airflow_provider_hep.window import (
    PROPERTY_PATH,
    combine_filters,
    convert_odata_v2_dates,
    format_odata_datetime,
    odata_v2_date_to_iso,
    split_window,
    window_filter,
)

# The window helpers live in window.py and are re-exported here for convenience.
__all__ = [
    "STRATEGY_NAMES",
    "CursorPaging",
    "FhirPaging",
    "KeysetPaging",
    "LinkHeaderPaging",
    "ODataPaging",
    "ODataV2Paging",
    "OffsetPaging",
    "Page",
    "PageNumberPaging",
    "PageRequest",
    "PageResponse",
    "PageWalker",
    "PagingStrategy",
    "combine_filters",
    "convert_odata_v2_dates",
    "deserialize_strategy",
    "format_odata_datetime",
    "odata_v2_date_to_iso",
    "parse_link_header",
    "resolve_strategy",
    "split_window",
    "window_filter",
]


@dataclass(frozen=True)
class PageRequest:
    """Describe one page request: an absolute URL plus query parameters to add."""

    url: str
    params: dict[str, str] | None = None


@dataclass(frozen=True)
class PageResponse:
    """Carry what the I/O layer received: final URL (with query), status, headers, JSON body."""

    url: str
    status: int
    headers: Mapping[str, str]
    body: Any


@dataclass(frozen=True)
class Page:
    """Hold one page's records, the request for the next page (or None) and the server total."""

    records: list[Any]
    next: PageRequest | None
    total: int | None = None


@runtime_checkable
class PagingStrategy(Protocol):
    """Decide how to request and read the pages of one collection."""

    @property
    def name(self) -> str:
        """Name the strategy, as :func:`resolve_strategy` knows it."""

    def first_request(self, url: str, params: Mapping[str, str]) -> PageRequest:
        """Build the request for the first page."""

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Read one response into a page and the request for the next one."""

    def serialize(self) -> dict[str, Any]:
        """Return ``{"name": ..., **fields}`` with plain JSON values."""


# --- Small readers shared by the strategies -------------------------------------------------


def _path_of(url: str) -> str:
    """Return the path of ``url`` for messages: never its query, which may identify patients."""
    try:
        return urlsplit(url).path or "/"
    except (ValueError, TypeError, AttributeError):
        return "<malformed URL>"


def _type(value: Any) -> str:
    """Name the JSON type of ``value`` for messages, without its content."""
    return "null" if value is None else type(value).__name__


def _at_path(body: Any, path: str, url: str) -> Any:
    """Follow the dotted ``path`` in ``body``; ``""`` or ``"."`` is the body itself."""
    current = body
    if path in ("", "."):
        return current
    for part in path.split("."):
        if not isinstance(current, dict):
            raise HepPaginationError(
                f"expected an object on the way to '{path}' in the page from {_path_of(url)}, "
                f"got {_type(current)}"
            )
        if part not in current:
            raise HepPaginationError(f"no '{path}' in the page from {_path_of(url)}")
        current = current[part]
    return current


def _optional(body: Any, path: str) -> Any:
    """Return the value at the dotted ``path`` in ``body``, or None when it is absent."""
    current = body
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


def _count(value: Any, what: str, url: str) -> int | None:
    """Read a server-reported count: a non-negative integer or a decimal string (OData v2)."""
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,18}\s*", value, re.ASCII):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise HepPaginationError(f"{what} in the page from {_path_of(url)} is not a count")


def _split(url: str) -> Any:
    """Split ``url``, turning a malformed one into ``HepPaginationError``."""
    try:
        return urlsplit(url)
    except (ValueError, TypeError, AttributeError):
        raise HepPaginationError("malformed URL in a page request") from None


def _link(value: Any, what: str, base: str) -> PageRequest | None:
    """Turn a next link (absolute or relative to ``base``) into a request; None ends paging."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise HepPaginationError(f"{what} in the page from {_path_of(base)} is not a string")
    try:
        return PageRequest(urljoin(base, value))
    except ValueError:
        raise HepPaginationError(f"malformed {what} in the page from {_path_of(base)}") from None


def _query(request: PageRequest) -> list[tuple[str, str]]:
    """List the query pairs a request sends: the URL's, then ``params`` (sent after them)."""
    pairs = parse_qsl(_split(request.url).query, keep_blank_values=True)
    return pairs + [(str(k), str(v)) for k, v in (request.params or {}).items()]


def _query_value(request: PageRequest, key: str) -> str | None:
    """Return the last value the request sends for ``key``, or None."""
    values = [value for name, value in _query(request) if name == key]
    return values[-1] if values else None


def _int_param(request: PageRequest, key: str, default: int) -> int:
    """Read an integer query parameter of our own request (page number, offset)."""
    value = _query_value(request, key)
    if value is None:
        return default
    if not re.fullmatch(r"\d{1,18}", value, re.ASCII):
        raise HepPaginationError(f"query parameter {key!r} of the page request is not a number")
    return int(value)


def _with_params(
    request: PageRequest, updates: Mapping[str, str], drop: Iterable[str] = ()
) -> PageRequest:
    """Return ``request`` with ``updates`` set and ``drop`` removed, from URL query and params."""
    removed = set(updates) | set(drop)
    parts = _split(request.url)
    kept = [
        segment
        for segment in parts.query.split("&")
        if segment and unquote_plus(segment.partition("=")[0]) not in removed
    ]
    params = {k: v for k, v in (request.params or {}).items() if k not in removed}
    params.update(updates)
    return PageRequest(urlunsplit(parts._replace(query="&".join(kept))), params or None)


def _odata_count(body: Any, url: str) -> int | None:
    """Read ``@odata.count`` (OData v4 JSON format control information) if present."""
    if not isinstance(body, dict):
        return None
    value = body.get("@odata.count", body.get("odata.count"))
    return _count(value, "@odata.count", url)


# --- Strategies -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Strategy:
    """Share field validation, record lookup and serialization between built-in strategies.

    :param records_path: dotted path of the record list in the body (``"d.results"``,
        ``"value"``); ``""`` or ``"."`` is the body itself; None uses the strategy's default.
    """

    name: ClassVar[str] = ""
    default_records_path: ClassVar[str] = ""
    records_path: str | None = None

    def __post_init__(self) -> None:
        """Reject argument values of the wrong type or range with ``HepConfigError``."""
        for spec in fields(self):
            value = getattr(self, spec.name)
            if spec.name == "records_path":
                if value is not None and not isinstance(value, str):
                    raise HepConfigError("records_path", "must be a dotted path such as 'value'")
            elif isinstance(spec.default, int):
                low = 0 if spec.name == "first_page" else 1
                if isinstance(value, bool) or not isinstance(value, int) or value < low:
                    raise HepConfigError(spec.name, f"must be an integer >= {low}")
            elif not isinstance(value, str) or not value.strip():
                raise HepConfigError(spec.name, "must be a non-empty string")

    def first_request(self, url: str, params: Mapping[str, str]) -> PageRequest:
        """Pass the URL and the caller's parameters through unchanged."""
        return PageRequest(url, dict(params) or None)

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Read one response; each strategy defines this."""
        raise NotImplementedError

    def serialize(self) -> dict[str, Any]:
        """Return ``{"name": ..., **fields}`` for :func:`deserialize_strategy`."""
        return {"name": self.name, **asdict(self)}

    def _records(self, body: Any, url: str) -> list[Any]:
        """Return the record list at ``records_path`` (or the default), by reference."""
        path = self.default_records_path if self.records_path is None else self.records_path
        records = _at_path(body, path, url)
        if not isinstance(records, list):
            raise HepPaginationError(
                f"records at '{path or '.'}' in the page from {_path_of(url)} are "
                f"{_type(records)}, not a list"
            )
        return records


@dataclass(frozen=True, kw_only=True)
class ODataPaging(_Strategy):
    """Follow OData v4 server-driven paging (OData v4 Part 1 §11.2.5.7): ``@odata.nextLink``.

    The link is opaque; it may be relative (resolved against the response URL) and may carry
    ``$skiptoken`` or ``$skip``. The total comes from ``@odata.count`` when ``$count=true``.
    """

    name: ClassVar[str] = "odata"
    default_records_path: ClassVar[str] = "value"

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Read ``value`` and ``@odata.nextLink``."""
        body = response.body
        link = (
            body.get("@odata.nextLink", body.get("odata.nextLink"))
            if isinstance(body, dict)
            else None
        )
        return Page(
            self._records(body, response.url),
            _link(link, "@odata.nextLink", response.url),
            _odata_count(body, response.url),
        )


@dataclass(frozen=True, kw_only=True)
class ODataV2Paging(_Strategy):
    """Follow OData v2 server-driven paging (OData v2 verbose JSON): ``d.__next``.

    Records are at ``d.results`` (or ``d`` itself when it is a list); ``d.__count`` is a string.
    """

    name: ClassVar[str] = "odata_v2"
    default_records_path: ClassVar[str] = "d.results"

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Read ``d.results``, ``d.__next`` and ``d.__count``."""
        body = response.body
        envelope = body.get("d") if isinstance(body, dict) else None
        if self.records_path is None and isinstance(envelope, list):
            return Page(envelope, None)
        if self.records_path is None and not isinstance(envelope, dict):
            raise HepPaginationError(
                f"OData v2 page from {_path_of(response.url)} has no 'd' object"
            )
        inner = envelope if isinstance(envelope, dict) else {}
        return Page(
            self._records(body, response.url),
            _link(inner.get("__next"), "d.__next", response.url),
            _count(inner.get("__count"), "d.__count", response.url),
        )


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 token
_BARE_VALUE = re.compile(r"[^\s;,\"]*")
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)  # RFC 9110 §5.6.4 quoted-string
_SPACE = re.compile(r"\s*")


def _skip_space(text: str, index: int) -> int:
    """Return the index of the first non-space character at or after ``index``."""
    match = _SPACE.match(text, index)
    return match.end() if match else index


def _link_params(text: str, index: int) -> tuple[dict[str, str], int]:
    """Read the ``; name=value`` parameters of one link-value (RFC 8288 §3) from ``index``."""
    params: dict[str, str] = {}
    while True:
        index = _skip_space(text, index)
        if index >= len(text) or text[index] == ",":
            return params, index
        if text[index] != ";":
            raise HepPaginationError("malformed Link header: expected ';' or ','")
        token = _TOKEN.match(text, _skip_space(text, index + 1))
        if token is None:  # an empty parameter, such as a trailing ';'
            index += 1
            continue
        name, value, index = token.group().lower(), "", _skip_space(text, token.end())
        if index < len(text) and text[index] == "=":
            index = _skip_space(text, index + 1)
            quoted = _QUOTED.match(text, index)
            if quoted:
                value = re.sub(r"\\(.)", r"\1", quoted.group(1), flags=re.DOTALL)
                index = quoted.end()
            else:
                bare = _BARE_VALUE.match(text, index)
                value, index = (bare.group(), bare.end()) if bare else ("", index)
        params.setdefault(name, value)  # RFC 8288 §3.3: later "rel" parameters are ignored


def parse_link_header(value: str) -> list[tuple[str, dict[str, str]]]:
    """Parse an RFC 8288 ``Link`` header into ``(target, {param: value})`` pairs.

    Targets are returned as written (maybe relative); ``<...>`` may contain commas; parameter
    names are lower-cased, values unquoted. Malformed headers raise ``HepPaginationError``.
    """
    links: list[tuple[str, dict[str, str]]] = []
    index = 0
    while True:
        while index < len(value) and (value[index].isspace() or value[index] == ","):
            index += 1
        if index >= len(value):
            return links
        end = value.find(">", index)
        if value[index] != "<" or end < 0:
            raise HepPaginationError("malformed Link header: expected '<URI>'")
        target = value[index + 1 : end].strip()
        params, index = _link_params(value, end + 1)
        links.append((target, params))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Join every value of header ``name`` (looked up case-insensitively), or return None."""
    try:
        values = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == name]
    except (AttributeError, TypeError):
        raise HepPaginationError("response headers are not a mapping") from None
    if not all(isinstance(v, str) for v in values):
        raise HepPaginationError(f"{name} header is not text")
    return ", ".join(values) if values else None


@dataclass(frozen=True, kw_only=True)
class LinkHeaderPaging(_Strategy):
    """Follow the ``Link`` header's ``rel="next"`` target (RFC 8288 §3, §3.3).

    Records are the body list (or ``records_path``); the server reports no total.
    """

    name: ClassVar[str] = "link_header"
    default_records_path: ClassVar[str] = ""

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Read the records and the first link whose relation types include ``next``."""
        records = self._records(response.body, response.url)
        header = _header(response.headers, "link")
        for target, params in parse_link_header(header or ""):
            if "next" in params.get("rel", "").lower().split():
                return Page(records, _link(target or response.url, "Link rel=next", response.url))
        return Page(records, None)


@dataclass(frozen=True, kw_only=True)
class CursorPaging(_Strategy):
    """Send the body's cursor back as a query parameter until the server returns none.

    The next request is the original URL and parameters plus ``{cursor_param: cursor}``;
    a null, empty or absent cursor ends paging. A repeated cursor is a loop (the walker's).
    """

    name: ClassVar[str] = "cursor"
    default_records_path: ClassVar[str] = "data"
    cursor_field: str = "next_cursor"
    cursor_param: str = "cursor"

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Read the records and the cursor at ``cursor_field`` (a dotted path)."""
        records = self._records(response.body, response.url)
        cursor = _optional(response.body, self.cursor_field)
        if cursor is None or cursor == "":
            return Page(records, None)
        if isinstance(cursor, bool) or not isinstance(cursor, (str, int)):
            raise HepPaginationError(
                f"cursor '{self.cursor_field}' in the page from {_path_of(response.url)} is "
                f"{_type(cursor)}, not a string"
            )
        return Page(records, _with_params(request, {self.cursor_param: str(cursor)}))


@dataclass(frozen=True, kw_only=True)
class PageNumberPaging(_Strategy):
    """Ask for numbered pages of ``page_size`` records until a short page or ``total_pages``.

    Like offset paging, page numbers over live data can skip records that move between pages.
    """

    name: ClassVar[str] = "page"
    default_records_path: ClassVar[str] = "data"
    counts_pages: ClassVar[bool] = True  # the walker refuses a page repeated verbatim
    page_param: str = "page"
    size_param: str = "page_size"
    page_size: int = 100
    first_page: int = 1

    def first_request(self, url: str, params: Mapping[str, str]) -> PageRequest:
        """Add the first page number and the page size to the caller's parameters."""
        updates = {self.page_param: str(self.first_page), self.size_param: str(self.page_size)}
        return _with_params(PageRequest(url, dict(params) or None), updates)

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Stop on a page shorter than ``page_size`` or on the body's last ``total_pages``."""
        body, url = response.body, response.url
        records = self._records(body, url)
        extra = body if isinstance(body, dict) else {}
        page = _int_param(request, self.page_param, self.first_page)
        total_pages = _count(extra.get("total_pages"), "total_pages", url)
        last = len(records) < self.page_size or (
            total_pages is not None and page >= self.first_page + total_pages - 1
        )
        following = None if last else _with_params(request, {self.page_param: str(page + 1)})
        return Page(records, following, _count(extra.get("total"), "total", url))


@dataclass(frozen=True, kw_only=True)
class OffsetPaging(_Strategy):
    """Page with ``$skip``/``$top`` (OData v4 Part 2, URL Conventions). Opt-in only.

    Safe ONLY for immutable collections: paging by offset over live data silently loses
    records when records leave the window (every later record shifts one place forward and
    the next offset skips one). Prefer server-driven paging or :class:`KeysetPaging`.
    """

    name: ClassVar[str] = "offset"
    default_records_path: ClassVar[str] = "value"
    counts_pages: ClassVar[bool] = True  # the walker refuses a page repeated verbatim
    skip_param: str = "$skip"
    top_param: str = "$top"
    page_size: int = 100

    def first_request(self, url: str, params: Mapping[str, str]) -> PageRequest:
        """Add ``$top`` to the caller's parameters (an absent ``$skip`` means 0)."""
        return _with_params(
            PageRequest(url, dict(params) or None), {self.top_param: str(self.page_size)}
        )

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Stop on a page shorter than ``page_size``; else skip past the records received."""
        records = self._records(response.body, response.url)
        total = _odata_count(response.body, response.url)
        if len(records) < self.page_size:
            return Page(records, None, total)
        skip = _int_param(request, self.skip_param, 0) + len(records)
        return Page(records, _with_params(request, {self.skip_param: str(skip)}), total)


# An OData v4 date or DateTimeOffset literal (ABNF dateValue / dateTimeOffsetValue): unquoted.
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,12})?)?(?:Z|[+-]\d{2}:\d{2}))?", re.ASCII
)
_LITERAL = r"(?:'(?:[^']|'')*'|[^\s()']+)"  # what _literal() writes: quoted, or a bare token


@dataclass(frozen=True, kw_only=True)
class KeysetPaging(_Strategy):
    """Page by the last record's ``(field, id_field)`` key, for servers whose links are offsets.

    Orders by ``field,id_field`` and asks for ``$top=page_size``; after a full page the next
    ``$filter`` is ``(<caller's filter>) and (<field> gt <v> or (<field> eq <v> and <id_field>
    gt '<id>'))``, never with ``$skip``/``$skiptoken``; the server's nextLink is ignored. Unlike
    offsets this neither skips nor repeats records when the collection changes meanwhile.

    Stateless: the caller's filter is recovered from the request by removing the clause this
    strategy appended, so filters never accumulate and a trigger can resume from any request.
    """

    name: ClassVar[str] = "keyset"
    default_records_path: ClassVar[str] = "value"
    field: str = "lastModified"
    id_field: str = "id"
    page_size: int = 100

    def __post_init__(self) -> None:
        """Also require ``field`` and ``id_field`` to be OData property names or paths."""
        super().__post_init__()
        for attr in ("field", "id_field"):
            if not PROPERTY_PATH.fullmatch(getattr(self, attr)):
                raise HepConfigError(attr, "must be an OData property name such as lastModified")

    def first_request(self, url: str, params: Mapping[str, str]) -> PageRequest:
        """Set ``$orderby`` and ``$top``, keeping the caller's ``$filter``."""
        updates = {"$orderby": f"{self.field},{self.id_field}", "$top": str(self.page_size)}
        return _with_params(PageRequest(url, dict(params) or None), updates)

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Stop on a short page; else filter past the key of the page's last record."""
        records = self._records(response.body, response.url)
        total = _odata_count(response.body, response.url)
        if len(records) < self.page_size:
            return Page(records, None, total)
        value = self._literal(records[-1], self.field, response.url)
        ident = self._literal(records[-1], self.id_field, response.url)
        key, tie = self.field, self.id_field
        clause = f"{key} gt {value} or ({key} eq {value} and {tie} gt {ident})"
        new = combine_filters(self._original_filter(request), clause)
        following = _with_params(request, {"$filter": new}, drop=("$skip", "$skiptoken"))
        return Page(records, following, total)

    def _literal(self, record: Any, key: str, url: str) -> str:
        """Write the record's ``key`` value as an OData literal (OData v4 ABNF primitiveLiteral)."""
        value = _optional(record, key.replace("/", ".")) if isinstance(record, dict) else None
        if value is None:
            raise HepPaginationError(
                f"keyset paging needs '{key}' in every record; the last record of the page "
                f"from {_path_of(url)} lacks it"
            )
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            return repr(value)
        if isinstance(value, str):
            if key == self.field and _DATETIME.fullmatch(value):
                return value  # unquoted, exactly as the server wrote it
            return "'" + value.replace("'", "''") + "'"
        raise HepPaginationError(
            f"keyset field '{key}' of the last record from {_path_of(url)} is {_type(value)}"
        )

    def _original_filter(self, request: PageRequest) -> str | None:
        """Return the caller's ``$filter``: the request's, minus the clause appended here."""
        current = _query_value(request, "$filter")
        if current is None:
            return None
        key, tie = re.escape(self.field), re.escape(self.id_field)
        clause = rf"{key} gt (?P<v>{_LITERAL}) or \({key} eq (?P=v) and {tie} gt {_LITERAL}\)"
        if re.fullmatch(clause, current):
            return None
        combined = re.fullmatch(rf"\((?P<original>.*)\) and \({clause}\)", current, re.DOTALL)
        return combined.group("original") if combined else current


@dataclass(frozen=True, kw_only=True)
class FhirPaging(_Strategy):
    """Follow a FHIR R4 searchset Bundle (FHIR R4 search paging): ``Bundle.link[relation=next]``.

    Records are ``entry[].resource`` (entries without a resource are skipped); the total is
    ``Bundle.total``. A body that is not a Bundle raises ``HepPaginationError``.
    """

    name: ClassVar[str] = "fhir"
    default_records_path: ClassVar[str] = "entry"

    def parse(self, request: PageRequest, response: PageResponse) -> Page:
        """Read the Bundle's resources, its next link and its total."""
        body, url = response.body, response.url
        if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
            raise HepPaginationError(f"FHIR page from {_path_of(url)} is not a Bundle")
        if self.records_path is not None:
            records = self._records(body, url)
        else:
            records = _bundle_resources(body.get("entry"), url)
        following = _link(_bundle_next(body.get("link"), url), "Bundle next link", url)
        return Page(records, following, _count(body.get("total"), "Bundle.total", url))


def _bundle_resources(entries: Any, url: str) -> list[Any]:
    """Collect ``entry[].resource`` of a Bundle, skipping entries without a resource."""
    if entries is None:
        return []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise HepPaginationError(f"Bundle.entry from {_path_of(url)} is not a list of objects")
    resources = [entry.get("resource") for entry in entries]
    if not all(r is None or isinstance(r, dict) for r in resources):
        raise HepPaginationError(f"a Bundle.entry.resource from {_path_of(url)} is not an object")
    return [r for r in resources if r is not None]


def _bundle_next(links: Any, url: str) -> Any:
    """Return the ``url`` of the Bundle link whose ``relation`` is ``next``, or None."""
    if links is None:
        return None
    if not isinstance(links, list) or not all(isinstance(link, dict) for link in links):
        raise HepPaginationError(f"Bundle.link from {_path_of(url)} is not a list of objects")
    return next((link.get("url") for link in links if link.get("relation") == "next"), None)


# --- Registry -------------------------------------------------------------------------------

_STRATEGIES: dict[str, type[_Strategy]] = {
    cls.name: cls
    for cls in (
        ODataPaging,
        ODataV2Paging,
        LinkHeaderPaging,
        CursorPaging,
        PageNumberPaging,
        OffsetPaging,
        KeysetPaging,
        FhirPaging,
    )
}
STRATEGY_NAMES: tuple[str, ...] = tuple(_STRATEGIES)


def _strategy_class(name: Any) -> type[_Strategy]:
    """Look a built-in strategy up by name, or raise ``HepConfigError`` listing the names."""
    cls = _STRATEGIES.get(name.strip().lower()) if isinstance(name, str) else None
    if cls is None:
        raise HepConfigError(
            "pagination",
            f"unknown pagination strategy {str(name)[:40]!r}; "
            f"choose one of: {', '.join(STRATEGY_NAMES)}",
        )
    return cls


def deserialize_strategy(data: Mapping[str, Any]) -> PagingStrategy:
    """Rebuild a built-in strategy from its ``serialize()`` form ``{"name": ..., **fields}``."""
    if not isinstance(data, Mapping):
        raise HepConfigError("pagination", f"expected a mapping, got {_type(data)}")
    cls = _strategy_class(data.get("name"))
    options = {key: value for key, value in data.items() if key != "name"}
    allowed = {spec.name for spec in fields(cls)}
    unknown = sorted(str(key) for key in options if key not in allowed)
    if unknown:
        raise HepConfigError(
            "pagination",
            f"unknown option(s) {', '.join(unknown)} for {cls.name!r} paging; "
            f"choose from: {', '.join(sorted(allowed))}",
        )
    return cls(**options)


def resolve_strategy(
    pagination: str | PagingStrategy | Mapping[str, Any], *, records_path: str | None = None
) -> PagingStrategy:
    """Turn a name, a ``serialize()`` mapping or a strategy object into a strategy.

    A user-supplied object implementing :class:`PagingStrategy` is returned as is.
    ``records_path`` overrides the built-in strategy's record location.
    """
    strategy: PagingStrategy
    if isinstance(pagination, str):
        strategy = _strategy_class(pagination)()
    elif isinstance(pagination, Mapping):
        strategy = deserialize_strategy(pagination)
    elif isinstance(pagination, PagingStrategy) and not isinstance(pagination, type):
        strategy = pagination
    else:
        raise HepConfigError(
            "pagination",
            f"expected a strategy name, a mapping or a PagingStrategy instance, "
            f"got {_type(pagination)}",
        )
    if records_path is None:
        return strategy
    if not isinstance(strategy, _Strategy):
        raise HepConfigError(
            "records_path", "only a built-in strategy's records path can be overridden"
        )
    return replace(strategy, records_path=records_path)


# --- Walker ---------------------------------------------------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """Return ``(scheme, host, port)`` of an absolute http(s) URL (RFC 6454 §4), else None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, TypeError, AttributeError):
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, _DEFAULT_PORTS[scheme] if port is None else port


def _display(origin: tuple[str, str, int]) -> str:
    """Write an origin's host, with its port when not the scheme's default."""
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"


def _fingerprint(request: PageRequest) -> bytes:
    """Hash a request normalised as origin, path and sorted query pairs (URL and params)."""
    normal = [_origin(request.url), _split(request.url).path or "/", sorted(_query(request))]
    return hashlib.blake2b(json.dumps(normal).encode(), digest_size=16).digest()


class PageWalker:
    """Drive one strategy over one series of pages, enforcing the safety rules.

    Every next request is resolved against the response URL and must stay on
    ``allowed_origin`` (scheme, host, port; default ports normalised) so the bearer token is
    never sent to another host nor downgraded to http. A request equal to an earlier one of
    the walk (URL and params, query order ignored) is a loop. Only a 16-byte hash of each
    request is kept. When ``pages`` reaches ``max_pages``, :meth:`advance` returns that page
    with ``next=None``: the walk stops cleanly, without error, and ``truncated`` is set.

    Page-number and offset paging compute the next request themselves, so a server that
    ignores the page or offset parameter would answer the same full page forever, each time
    to a new request. For those strategies (``counts_pages``) a page whose records equal the
    previous page's is refused (only a 16-byte hash of the previous page is kept).
    """

    def __init__(
        self, strategy: PagingStrategy, *, allowed_origin: str, max_pages: int | None = None
    ) -> None:
        """Check the origin (e.g. ``https://api.example.com``) and the page limit."""
        origin = _origin(allowed_origin) if isinstance(allowed_origin, str) else None
        if origin is None:
            raise HepConfigError(
                "allowed_origin", "must be an absolute http(s) URL such as https://api.example.com"
            )
        if max_pages is not None and (
            isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1
        ):
            raise HepConfigError("max_pages", "must be an integer >= 1, or None for no limit")
        self.strategy = strategy
        self.max_pages = max_pages
        self.pages = 0
        self.truncated = False
        self._origin = origin
        self._seen: set[bytes] = set()
        self._admitted: tuple[PageRequest, bytes] | None = None  # the last request admitted
        self._previous_records: bytes | None = None

    def first(self, url: str, params: Mapping[str, str]) -> PageRequest:
        """Start (or restart) the walk: build and check the first request."""
        self.pages, self.truncated, self._seen = 0, False, set()
        self._previous_records = None
        return self._admit(self.strategy.first_request(url, params), url)

    def advance(self, request: PageRequest, response: PageResponse) -> Page:
        """Parse the response to ``request``, then check the next request (or stop at the cap)."""
        # A walk resumed in a trigger starts here; otherwise _admit already hashed the request.
        admitted = self._admitted
        hashed = admitted is not None and admitted[0] is request
        self._seen.add(admitted[1] if admitted is not None and hashed else _fingerprint(request))
        page = self.strategy.parse(request, response)
        self.pages += 1
        if page.next is None:
            return page
        if getattr(self.strategy, "counts_pages", False):
            self._refuse_a_repeated_page(page.records, request)
        if self.max_pages is not None and self.pages >= self.max_pages:
            self.truncated = True
            return replace(page, next=None)
        return replace(page, next=self._admit(page.next, response.url or request.url))

    def _refuse_a_repeated_page(self, records: list[Any], request: PageRequest) -> None:
        """Refuse a full page equal to the previous one: the server ignores the paging."""
        text = json.dumps(records, sort_keys=True, default=str)
        digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
        if digest == self._previous_records:
            raise HepPaginationError(
                f"page {self.pages} from {_path_of(request.url)} repeats the previous page: "
                "the server seems to ignore the paging parameter; check the strategy's "
                "parameter names (page_param, size_param, skip_param, top_param)"
            )
        self._previous_records = digest

    def _admit(self, request: PageRequest, base: str) -> PageRequest:
        """Resolve ``request`` against ``base``, check its origin, refuse a repeat."""
        if not isinstance(request, PageRequest) or not isinstance(request.url, str):
            raise HepPaginationError(
                "the strategy returned a next request that is not a PageRequest"
            )
        try:
            url = urljoin(base, request.url)
        except ValueError:
            raise HepPaginationError("malformed next link") from None
        self._check_origin(url)
        resolved = request if url == request.url else replace(request, url=url)
        key = _fingerprint(resolved)
        if key in self._seen:
            raise HepPaginationError(
                f"pagination loop: the next request for {_path_of(url)} repeats an earlier "
                "request of this walk"
            )
        self._seen.add(key)
        self._admitted = (resolved, key)
        return resolved

    def _check_origin(self, url: str) -> None:
        """Refuse a URL whose origin is not the allowed one (the token would go with it)."""
        origin = _origin(url)
        if origin is None:
            raise HepPaginationError(
                f"refusing a next link that is not an absolute http(s) URL ({_path_of(url)})"
            )
        if origin == self._origin:
            return
        if self._origin[0] == "https" and origin[0] == "http":
            raise HepPaginationError(
                f"refusing a next link that downgrades https to http (host {_display(origin)}): "
                "the access token must not be sent unencrypted"
            )
        raise HepPaginationError(
            f"refusing a next link to host {_display(origin)}: the access token must not be "
            "sent to another host"
        )
