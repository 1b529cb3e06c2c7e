"""Token client logic, driven without any network (sans-IO)."""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote_plus

import pytest

from airflow_provider_hep.auth import (
    ClientCredentials,
    Token,
    TokenPolicy,
    basic_credentials,
    build_token_request,
    parse_token_response,
)
from airflow_provider_hep.exceptions import HepAuthError

HARD_SECRET = "s3cr:et+with&odd%chars and spaces"


def _creds(**kwargs):
    base = {
        "token_url": "https://auth.example.com/token",
        "client_id": "my client",
        "client_secret": HARD_SECRET,
    }
    return ClientCredentials(**{**base, **kwargs})


def test_basic_credentials_form_urlencode_id_and_secret_before_base64():
    decoded = base64.b64decode(basic_credentials("my client", HARD_SECRET)).decode()
    raw_id, raw_secret = decoded.split(":", 1)
    assert raw_id == "my+client"
    assert ":" not in raw_secret
    assert unquote_plus(raw_secret) == HARD_SECRET


def test_basic_request_puts_credentials_in_the_header_only():
    request = build_token_request(_creds(scope="a b", extra_params=(("audience", "hep"),)))
    assert request.headers["Authorization"] == "Basic " + basic_credentials(
        "my client", HARD_SECRET
    )
    assert request.form == {"grant_type": "client_credentials", "scope": "a b", "audience": "hep"}


def test_post_request_puts_credentials_in_the_form():
    request = build_token_request(_creds(client_auth="post"))
    assert "Authorization" not in request.headers
    assert request.form["client_id"] == "my client"
    assert request.form["client_secret"] == HARD_SECRET


def test_extra_params_cannot_override_the_grant_type():
    request = build_token_request(_creds(extra_params=(("grant_type", "password"),)))
    assert request.form["grant_type"] == "client_credentials"


def test_repr_of_request_credentials_and_token_hide_secrets():
    token = parse_token_response(
        200, json.dumps({"access_token": "tok-abcdef", "token_type": "Bearer"}).encode(), now=0
    )
    for obj in (_creds(), build_token_request(_creds()), token):
        assert HARD_SECRET not in repr(obj)
        assert "tok-abcdef" not in repr(obj)
        assert "tok-abcdef" not in str(obj)


def test_whitespace_around_the_access_token_is_stripped():
    body = json.dumps(
        {"access_token": " utTJF-abc ", "token_type": "bearer", "expires_in": 299, "scope": "x"}
    )
    token = parse_token_response(200, body.encode(), now=100.0)
    assert token.value == "utTJF-abc"
    assert token.expires_in == 299
    assert token.scope == "x"
    assert token.authorization == "Bearer utTJF-abc"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"token_type": "Bearer"}, "no access_token"),
        ({"access_token": "   ", "token_type": "Bearer"}, "no access_token"),
        ({"access_token": 5, "token_type": "Bearer"}, "no access_token"),
        ({"access_token": "abcde", "token_type": "mac"}, "only Bearer"),
        ({"access_token": "abcde"}, "only Bearer"),
        (
            {"access_token": "abcde", "token_type": "Bearer", "expires_in": "soon"},
            "non-integer expires_in",
        ),
        ([1, 2], "not an object"),
    ],
)
def test_invalid_success_bodies_are_refused(payload, match):
    with pytest.raises(HepAuthError, match=match):
        parse_token_response(200, json.dumps(payload).encode(), now=0)


@pytest.mark.parametrize(
    "code", ["invalid_client", "invalid_scope", "unauthorized_client", "invalid_grant"]
)
def test_rfc6749_error_bodies_become_hep_auth_errors(code):
    body = json.dumps({"error": code, "error_description": "nope"}).encode()
    with pytest.raises(HepAuthError, match=rf"{code} \(nope\) \[HTTP 400\]") as info:
        parse_token_response(400, body, now=0)
    assert (info.value.error, info.value.description, info.value.status) == (code, "nope", 400)
    assert not info.value.retryable


def test_an_error_description_is_shown_short_on_one_line_with_credentials_hidden():
    description = "bad request:\n client_secret=s3cr3t-value access_token: tok-123 " + "x" * 500
    body = json.dumps({"error": "invalid_request", "error_description": description}).encode()
    with pytest.raises(HepAuthError) as info:
        parse_token_response(400, body, now=0)
    message = str(info.value)
    # The fields travel on, into trigger events and the triggerer's log: the same form there.
    for shown in (message, info.value.description, info.value.error):
        assert "s3cr3t-value" not in shown
        assert "tok-123" not in shown
        assert "\n" not in shown
    assert "client_secret=***" in info.value.description
    assert len(info.value.description) < 250
    assert info.value.error == "invalid_request"
    assert "client_secret=***" in message
    assert "\n" not in message
    assert len(message) < 300


def test_a_non_json_answer_reports_status_and_a_short_excerpt():
    page = b"<html><body>" + b"Service Unavailable " * 100 + b"</body></html>"
    with pytest.raises(
        HepAuthError, match=r"answered 503 with a body that is not JSON: '<html><body>Service"
    ) as info:
        parse_token_response(503, page, now=0)
    assert len(str(info.value)) < 300
    assert info.value.retryable


def test_per_call_policy_never_reuses_a_token():
    policy = TokenPolicy("per_call")
    policy.store(Token("abcdef", expires_in=299, obtained_at=0))
    assert policy.reusable(1.0) is None


def test_per_task_policy_reuses_until_min_of_60s_or_half_the_lifetime_remain():
    policy = TokenPolicy("per_task")
    long_lived = Token("abcdef", expires_in=299, obtained_at=0)
    policy.store(long_lived)
    assert policy.reusable(238.0) is long_lived  # 61 s left
    assert policy.reusable(240.0) is None  # 59 s left
    short_lived = Token("ghijkl", expires_in=60, obtained_at=0)
    policy.store(short_lived)
    assert policy.reusable(29.0) is short_lived  # 31 s left, half is 30
    assert policy.reusable(31.0) is None
    policy.invalidate()
    assert policy.reusable(0.0) is None
