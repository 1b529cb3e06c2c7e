"""Hostile and malformed input, by property: only the provider's own errors, no secret in them.

Covered: token response parsing, ``Retry-After`` parsing, every paging strategy's response
parsing driven through a :class:`PageWalker` over whole walks, strategy (de)serialization, and
connection config parsing. Anything malformed must raise a ``HepError`` subclass (never a
``KeyError``, ``TypeError`` or the like), must not loop forever, and must not carry a secret,
an access token or patient data in its message.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from airflow_provider_hep.auth import Token, parse_token_response
from airflow_provider_hep.config import ALLOWED_EXTRAS, HepConnectionConfig, origin_of
from airflow_provider_hep.exceptions import (
    HepAuthError,
    HepConfigError,
    HepError,
    HepPaginationError,
)
from airflow_provider_hep.pagination import (
    CursorPaging,
    FhirPaging,
    KeysetPaging,
    LinkHeaderPaging,
    ODataPaging,
    ODataV2Paging,
    OffsetPaging,
    PageNumberPaging,
    PageRequest,
    PageResponse,
    PageWalker,
    resolve_strategy,
)
from airflow_provider_hep.retry import parse_retry_after

ORIGIN = "https://api.example.com"
BASE = f"{ORIGIN}/api/v1/patients"
SECRET = "hostile-client-secret-5d41"
TOKEN = "hostile-access-token-7f3a"
PHI = "Testperson-PHI-9c1e"  # stands for a patient's last name, MRN or e-mail
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# A hostile server may answer forever; a walk is allowed this many pages before the test
# calls it endless. Every server below has at most this many distinct answers.
PAGE_BOUND = 40

# --- Building blocks --------------------------------------------------------------------------

# Digits that str.isdigit() accepts but int() and float() do not, and other look-alikes.
TRICKY_TEXT = st.sampled_from(
    [
        "²",
        "³⁴",
        "١٢",
        "߁",
        "5 ",
        " 5",
        "1e3",
        "-1",
        "0x10",
        "inf",
        "nan",
        "",
        " ",
        "\x00",
        "9" * 400,
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | TRICKY_TEXT
    | st.sampled_from([SECRET, TOKEN, PHI, "Bearer", "bearer", "basic", "post", "true"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def attempt(call: Any) -> tuple[Any, BaseException | None]:
    """Return ``(result, None)``, or ``(None, the exception)``: the caller judges both."""
    try:
        return call(), None
    except Exception as exc:  # any exception at all: the property decides which are fine
        return None, exc


def assert_clean(exc: BaseException, *secrets: str) -> None:
    """Assert a provider error whose message holds none of ``secrets``."""
    assert isinstance(exc, HepError), f"{type(exc).__name__} escaped: {exc!r}"
    for secret in secrets:
        assert secret not in str(exc), f"the message carries {secret!r}: {exc}"


# --- Token responses (RFC 6749 §5.1, §5.2) ------------------------------------------------------

# The access token appears where a token endpoint puts one: as access_token (other fields
# get other values; an error_description echoing the token is the server's own leak).
OTHER = SCALARS.filter(lambda value: value != TOKEN)
TOKEN_PAYLOADS = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.just(TOKEN) | SCALARS | JSON,
        "token_type": st.sampled_from(["Bearer", "bearer", "mac", ""]) | OTHER,
        "expires_in": OTHER | TRICKY_TEXT,
        "scope": OTHER,
        "error": st.sampled_from(["invalid_client", "invalid_scope"]) | OTHER,
        "error_description": st.text(max_size=300) | OTHER,
        "refresh_token": st.just(TOKEN),
    },
)
OTHER_JSON = st.recursive(
    OTHER,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
TOKEN_BODIES = (
    TOKEN_PAYLOADS.map(lambda payload: json.dumps(payload).encode())
    | OTHER_JSON.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=300)
    # Some OAuth servers answer form-encoded when they ignore Accept: application/json.
    | st.just(urlencode({"access_token": TOKEN, "token_type": "bearer"}).encode())
    | st.just(f'{{"access_token": "{TOKEN}", "token_type": "Bearer"'.encode())  # cut short
    | st.just(json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode())
    | st.just(TOKEN.encode())  # a bare token as text/plain
    | st.just(json.dumps(TOKEN).encode())
)
STATUSES = st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503]) | (
    st.integers(min_value=100, max_value=599)
)


@SETTINGS
@given(status=STATUSES, body=TOKEN_BODIES)
@example(status=200, body=urlencode({"access_token": TOKEN, "token_type": "bearer"}).encode())
@example(status=200, body=TOKEN.encode())
@example(status=200, body=f'{{"access_token": "{TOKEN}", "token_type"'.encode())
@example(status=201, body=json.dumps({"access_token": TOKEN, "token_type": "Bearer"}).encode())
@example(status=400, body=json.dumps({"access_token": TOKEN}).encode())
@example(
    status=200, body=b'{"access_token": "abcde", "token_type": "Bearer", "expires_in": "\xc2\xb2"}'
)
@example(
    status=200,
    body=b'{"access_token": "abcde", "token_type": "Bearer", "expires_in": 1' + b"0" * 400 + b"}",
)
def test_any_token_answer_gives_a_token_or_an_auth_error_that_never_shows_the_token(
    status: int, body: bytes
) -> None:
    # A bare token is a (non-standard) success answer; no server sends one with an error.
    assume(200 <= status < 300 or body not in (TOKEN.encode(), json.dumps(TOKEN).encode()))
    token, error = attempt(lambda: parse_token_response(status, body, now=0.0))
    if error is not None:
        assert isinstance(error, HepAuthError), f"{type(error).__name__} escaped: {error!r}"
        assert_clean(error, TOKEN)
        return
    assert status == 200
    assert isinstance(token, Token)
    assert token.value.strip() == token.value != ""
    assert TOKEN not in repr(token)
    assert TOKEN not in str(token)
    assert token.expires_in is None or isinstance(token.expires_in, int)
    assert token.needs_refresh(1e9) in (True, False)  # the expiry arithmetic cannot overflow


@SETTINGS
@given(value=st.text(max_size=40) | TRICKY_TEXT | st.none())
@example(value="\u00b2")  # superscript two: str.isdigit() says yes, float() says no
def test_any_retry_after_value_gives_a_delay_or_none(value: str | None) -> None:
    delay = parse_retry_after(value, now=1_700_000_000.0)
    assert delay is None or (isinstance(delay, float) and delay >= 0.0)


# --- Paging: whole walks over hostile servers ---------------------------------------------------

STRATEGIES = [
    ODataPaging(),
    ODataV2Paging(),
    LinkHeaderPaging(),
    CursorPaging(),
    CursorPaging(cursor_field="meta.next", records_path="items"),
    PageNumberPaging(page_size=2),
    OffsetPaging(page_size=2),
    KeysetPaging(page_size=2),
    FhirPaging(),
]
LINKS = (
    st.sampled_from(
        [
            None,
            "",
            f"{BASE}?page=2",
            f"{BASE}?page=3&name={PHI}",
            "/api/v1/patients?$skiptoken=x",
            "?$skiptoken=y",
            f"https://evil.example.com/steal?name={PHI}",
            "http://api.example.com/api/v1/patients",
            "javascript:alert(1)",
            "http://[::1",
            "https://api.example.com:99999/x",
        ]
    )
    | SCALARS
)
RECORD = st.fixed_dictionaries(
    {"id": st.sampled_from(["PAT-1", "PAT-2", "PAT-3", "PAT-4"])},
    optional={
        "lastModified": st.sampled_from(["2026-01-01T04:00:00Z", "2026-01-01T04:30:00Z"]),
        "lastName": st.just(PHI),
    },
)
RECORDS = st.lists(RECORD | JSON, max_size=3)
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {"value": RECORDS}, optional={"@odata.nextLink": LINKS, "@odata.count": SCALARS}
    ),
    st.fixed_dictionaries(
        {"d": st.fixed_dictionaries({"results": RECORDS}, optional={"__next": LINKS})}
    ),
    st.fixed_dictionaries(
        {"data": RECORDS},
        optional={"next_cursor": LINKS, "total": SCALARS, "total_pages": SCALARS},
    ),
    st.fixed_dictionaries({"items": RECORDS, "meta": st.fixed_dictionaries({"next": LINKS})}),
    RECORDS,
    st.fixed_dictionaries(
        {"resourceType": st.just("Bundle")},
        optional={
            "entry": st.lists(st.fixed_dictionaries({"resource": RECORD | JSON})) | JSON,
            "link": st.lists(st.fixed_dictionaries({"relation": st.just("next"), "url": LINKS}))
            | JSON,
            "total": SCALARS,
        },
    ),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "Link": st.sampled_from(
            [
                f"<{BASE}?page=2>; rel=next",
                f'<https://evil.example.com/?n={PHI}>; rel="next"',
                "</api/v1/patients?c=1>; rel=next",
                "<>; rel=next",
                "<http://[::1>; rel=next",
                "garbage",
            ]
        )
        | st.text(alphabet='<>;,="\\ relnxt/:a', max_size=30),
    },
)
ANSWERS = st.lists(st.tuples(HEADERS, BODIES), min_size=1, max_size=6)


def full_url(request: PageRequest) -> str:
    """Return the URL the I/O layer would request: the URL plus its params."""
    if not request.params:
        return request.url
    joiner = "&" if urlsplit(request.url).query else "?"
    return f"{request.url}{joiner}{urlencode(request.params)}"


def walk(strategy: Any, answers: list[tuple[Mapping[str, str], Any]]) -> int:
    """Walk until the end, answering request n with answers[n] (the last one repeats).

    Returns the pages walked; raises whatever the walker raises.
    """
    walker = PageWalker(strategy, allowed_origin=ORIGIN)
    request: PageRequest | None = walker.first(BASE, {"$filter": f"lastName eq '{PHI}'"})
    pages = 0
    while request is not None:
        assert pages < PAGE_BOUND, "the walk does not end"
        headers, body = answers[min(pages, len(answers) - 1)]
        page = walker.advance(request, PageResponse(full_url(request), 200, headers, body))
        pages += 1
        assert isinstance(page.records, list)
        request = page.next
        if request is not None:
            assert request.url.startswith(ORIGIN + "/"), "the token would leave the API host"
    return pages


@SETTINGS
@given(index=st.integers(0, len(STRATEGIES) - 1), answers=ANSWERS)
def test_any_series_of_answers_ends_the_walk_or_raises_a_pagination_error_without_phi(
    index: int, answers: list[tuple[Mapping[str, str], Any]]
) -> None:
    _, error = attempt(lambda: walk(STRATEGIES[index], answers))
    if error is not None:
        assert isinstance(error, HepPaginationError | HepConfigError), repr(error)
        assert_clean(error, PHI, "evil.example.com/steal")


FULL_PAGES = st.fixed_dictionaries(
    {
        "value": st.lists(RECORD, min_size=2, max_size=2),
        "data": st.lists(RECORD, min_size=2, max_size=2),
    },
    optional={"@odata.nextLink": LINKS, "next_cursor": LINKS, "total_pages": st.just(None)},
)


@SETTINGS
@given(index=st.integers(0, len(STRATEGIES) - 1), headers=HEADERS, body=FULL_PAGES | BODIES)
@example(index=5, headers={}, body={"data": [{"id": "PAT-1"}, {"id": "PAT-2"}]})  # page
@example(index=6, headers={}, body={"value": [{"id": "PAT-1"}, {"id": "PAT-2"}]})  # offset
def test_a_server_that_ignores_paging_parameters_cannot_make_any_walk_endless(
    index: int, headers: Mapping[str, str], body: Any
) -> None:
    # The same full answer to every request: a server that ignores the page, offset or
    # cursor parameter (for example because the strategy names the wrong parameter).
    pages, error = attempt(lambda: walk(STRATEGIES[index], [(headers, body)]))
    if error is not None:
        assert isinstance(error, HepPaginationError | HepConfigError), repr(error)
        assert_clean(error, PHI)
        return
    assert pages <= 2


@SETTINGS
@given(
    spec=st.dictionaries(
        st.sampled_from(
            ["name", "records_path", "page_size", "first_page", "cursor_field", "field", "x"]
        ),
        SCALARS | st.sampled_from(["odata", "page", "keyset", "offset", "cursor", "fhir"]),
    )
    | JSON
)
def test_any_pagination_setting_resolves_or_raises_a_config_error(spec: Any) -> None:
    strategy, error = attempt(lambda: resolve_strategy(spec))
    if error is not None:
        assert isinstance(error, HepConfigError), repr(error)
        return
    assert strategy.serialize()["name"] == strategy.name


# --- Connection config --------------------------------------------------------------------------

EXTRA_VALUES = (
    SCALARS
    | JSON
    | st.sampled_from(
        [
            "https://auth.example.com/oauth/token",
            "http://auth.example.com/token",
            "http://[::1",
            "https://auth.example.com:99999/token",
            "https://auth.example.com:port/token",
            "https://auth.example.com/t?secret=" + SECRET,
            '{"X-Tenant": "t1"}',
            "{not json",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "/nonexistent/ca.pem",
            "per_task",
            "30",
        ]
    )
)
EXTRAS = st.dictionaries(
    st.sampled_from(ALLOWED_EXTRAS) | st.sampled_from(["token_url", "extra__sap_hep__scope"]),
    EXTRA_VALUES,
    max_size=6,
)
HOSTS = st.sampled_from(
    [
        "https://api.example.com/api/v1",
        "api.example.com",
        "http://api.example.com",
        "http://127.0.0.1:8080/api",
        "http://[::1",
        "https://api.example.com:99999",
        "https://api.example.com:port",
        "ftp://api.example.com",
        "https://",
        "://",
        SECRET,
        "",
    ]
) | st.text(max_size=20)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    host=HOSTS | st.none(),
    login=st.sampled_from(["client", SECRET, ""]) | st.none(),
    extra=EXTRAS | EXTRAS.map(json.dumps) | JSON | st.text(max_size=20),
    port=st.none() | st.integers(min_value=-5, max_value=70_000),
    schema=st.none() | st.sampled_from(["api/v1", "", SECRET]),
)
@example(  # a valid connection
    host="https://api.example.com/api/v1",
    login="client",
    extra={"auth_url": "https://auth.example.com/oauth/token", "timeout": "30"},
    port=None,
    schema=None,
)
@example(  # the secret pasted into another field
    host="https://api.example.com",
    login="client",
    extra={"auth_url": "https://auth.example.com/t", "client_auth": SECRET},
    port=None,
    schema=None,
)
@example(host=f"http://{SECRET}.example.com", login="client", extra={}, port=None, schema=None)
@example(host="http://[::1", login="client", extra={}, port=None, schema=None)
@example(host="https://api.example.com:99999", login="client", extra={}, port=None, schema=None)
@example(host="https://api.example.com", login="client", extra={}, port=70000, schema=None)
@example(
    host="https://api.example.com",
    login="client",
    extra={"auth_url": "https://auth.example.com/t", "timeout": 10**400},
    port=None,
    schema=None,
)
def test_any_connection_parses_or_raises_a_config_error_that_never_shows_the_secret(
    host: str | None, login: str | None, extra: Any, port: int | None, schema: str | None
) -> None:
    config, error = attempt(
        lambda: HepConnectionConfig.from_values(
            host=host, login=login, password=SECRET, extra=extra, port=port, schema=schema
        )
    )
    if error is not None:
        assert isinstance(error, HepConfigError), f"{type(error).__name__} escaped: {error!r}"
        assert_clean(error, SECRET)
        return
    assert config.client_secret == SECRET
    assert SECRET not in repr(config)
    assert 0 < config.timeout <= 3600
    assert math.isfinite(config.timeout)
    assert config.base_url.startswith(("https://", "http://"))
    assert origin_of(config.auth_url)  # what the hooks do next must not raise either
    assert config.api_origin
