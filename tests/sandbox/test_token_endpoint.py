"""The sandbox token endpoint follows RFC 6749 §4.4 and bearer checks follow RFC 6750."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

import pytest
import requests

TIMEOUT = 10
TRICKY_SECRET = "s3cr:et+with&odd%chars and spaces"


def basic_header(client_id: str, secret: str) -> str:
    """Encode client credentials per RFC 6749 §2.3.1 (form-urlencode, then base64)."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def post_token(url, data=None, headers=None):
    return requests.post(url, data=data, headers=headers or {}, timeout=TIMEOUT)


def test_basic_auth_with_a_secret_full_of_special_characters_gets_a_token(hep_sandbox_factory):
    sb = hep_sandbox_factory(client_id="client:id+1", client_secret=TRICKY_SECRET)
    headers = {"Authorization": basic_header(sb.client_id, sb.client_secret)}

    answer = post_token(sb.token_url, {"grant_type": "client_credentials"}, headers)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 299
    assert len(body["access_token"]) >= 40
    assert body["scope"].split() == [
        "patients.read",
        "appointments.read",
        "care-plans.read",
        "messages.write",
        "exports.write",
    ]
    assert answer.headers["Cache-Control"] == "no-store"


def test_basic_auth_without_form_encoding_is_rejected_when_the_secret_needs_it(hep_sandbox_factory):
    sb = hep_sandbox_factory(client_secret=TRICKY_SECRET)
    raw = f"{sb.client_id}:{sb.client_secret}".encode()
    headers = {"Authorization": "Basic " + base64.b64encode(raw).decode()}

    answer = post_token(sb.token_url, {"grant_type": "client_credentials"}, headers)

    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


def test_client_secret_post_gets_a_token_and_records_the_form_keys(hep_sandbox):
    data = {
        "grant_type": "client_credentials",
        "client_id": hep_sandbox.client_id,
        "client_secret": hep_sandbox.client_secret,
        "scope": "patients.read",
        "audience": "hep",
    }

    answer = post_token(hep_sandbox.token_url, data)

    assert answer.status_code == 200
    assert answer.json()["scope"] == "patients.read"
    stats = hep_sandbox.stats
    assert stats["last_token_form_keys"] == sorted(data)
    assert stats["tokens"] == [answer.json()["access_token"]]
    assert stats["tokens_issued"] == stats["token_requests"] == 1


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({}, 400, "invalid_request"),
        (
            {"grant_type": "client_credentials", "scope": "patients.read admin"},
            400,
            "invalid_scope",
        ),
    ],
    ids=["other-grant", "missing-grant", "unknown-scope"],
)
def test_token_request_errors_use_the_rfc_6749_error_codes(hep_sandbox, data, status, error):
    headers = {"Authorization": basic_header(hep_sandbox.client_id, hep_sandbox.client_secret)}

    answer = post_token(hep_sandbox.token_url, data, headers)

    assert answer.status_code == status
    assert answer.json()["error"] == error


@pytest.mark.parametrize("how", ["basic", "post", "none"])
def test_wrong_or_missing_credentials_get_401_invalid_client_with_a_basic_challenge(
    hep_sandbox, how
):
    data = {"grant_type": "client_credentials"}
    headers = {}
    if how == "basic":
        headers["Authorization"] = basic_header(hep_sandbox.client_id, "wrong-secret")
    elif how == "post":
        data.update(client_id=hep_sandbox.client_id, client_secret="wrong-secret")

    answer = post_token(hep_sandbox.token_url, data, headers)

    assert answer.status_code == 401
    assert answer.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed",
    }
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="hep-sandbox"'


def test_using_basic_and_post_authentication_at_once_is_an_invalid_request(hep_sandbox):
    sb = hep_sandbox
    data = {"grant_type": "client_credentials", "client_id": sb.client_id, "client_secret": "x"}
    headers = {"Authorization": basic_header(sb.client_id, sb.client_secret)}

    answer = post_token(sb.token_url, data, headers)

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_a_json_body_is_an_invalid_request(hep_sandbox):
    answer = requests.post(
        hep_sandbox.token_url, json={"grant_type": "client_credentials"}, timeout=TIMEOUT
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_request"


def test_api_calls_without_a_valid_bearer_get_401_invalid_token(hep_sandbox):
    url = f"{hep_sandbox.base_url}/patients"
    cases = [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}]

    answers = [requests.get(url, headers=headers, timeout=TIMEOUT) for headers in cases]

    assert [a.status_code for a in answers] == [401, 401, 401]
    for answer in answers:
        assert answer.json()["error"] == "invalid_token"
        assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    stats = hep_sandbox.stats
    assert stats["auth_failures"] == 3
    assert stats["api_calls"] == 1
    assert stats["api_calls_ok"] == 0


def test_single_use_tokens_work_exactly_once(hep_sandbox_factory, token):
    sb = hep_sandbox_factory(single_use_tokens=True)
    headers = {"Authorization": f"Bearer {token(sb)}"}
    url = f"{sb.base_url}/patients/PAT-0000001"

    first = requests.get(url, headers=headers, timeout=TIMEOUT)
    second = requests.get(url, headers=headers, timeout=TIMEOUT)

    assert first.status_code == 200
    assert second.status_code == 401
    assert "already used" in second.json()["error_description"]
    assert sb.stats["calls_per_token"] == {"max": 1, "tokens_used": 1, "tokens_reused": 0}


def test_reused_tokens_show_up_in_calls_per_token(hep_sandbox, token):
    headers = {"Authorization": f"Bearer {token(hep_sandbox)}"}
    for _ in range(3):
        requests.get(f"{hep_sandbox.base_url}/patients/PAT-0000001", headers=headers, timeout=10)

    assert hep_sandbox.stats["calls_per_token"] == {"max": 3, "tokens_used": 1, "tokens_reused": 1}


def test_tokens_expire_on_the_sandbox_clock(hep_sandbox_factory, token):
    sb = hep_sandbox_factory(token_ttl=60)
    headers = {"Authorization": f"Bearer {token(sb)}"}
    url = f"{sb.base_url}/patients/PAT-0000001"

    assert requests.get(url, headers=headers, timeout=TIMEOUT).status_code == 200
    sb.advance_clock(61)
    expired = requests.get(url, headers=headers, timeout=TIMEOUT)

    assert expired.status_code == 401
    assert expired.json()["error_description"] == "token expired"


def test_the_token_endpoint_only_accepts_post(hep_sandbox):
    answer = requests.get(hep_sandbox.token_url, timeout=TIMEOUT)

    assert answer.status_code == 405
    assert answer.headers["Allow"] == "POST"


def test_configured_scopes_limit_what_can_be_requested(hep_sandbox_factory):
    sb = hep_sandbox_factory(scopes="read write")
    headers = {"Authorization": basic_header(sb.client_id, sb.client_secret)}

    ok = post_token(sb.token_url, {"grant_type": "client_credentials", "scope": "write"}, headers)
    bad = post_token(sb.token_url, {"grant_type": "client_credentials", "scope": "x"}, headers)

    assert ok.json()["scope"] == "write"
    assert bad.json()["error"] == "invalid_scope"
