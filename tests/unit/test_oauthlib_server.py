"""HepHook against an independent OAuth 2.0 implementation: oauthlib's server classes.

oauthlib builds and checks the token endpoint's answers (RFC 6749 §4.4, §5.1, §5.2) and the
bearer-token check (RFC 6750); only the storage callbacks below are ours.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import unquote_plus

import pytest
from oauthlib.oauth2 import BackendApplicationServer, RequestValidator
from werkzeug import Response

from airflow_provider_hep.exceptions import HepAuthError
from airflow_provider_hep.hooks.hep import HepHook

CLIENT_ID = "oauthlib client"
SECRET = "p@ss:word+&% with spaces"
SCOPES = ["patients.read", "patients.write"]


class Validator(RequestValidator):
    """Keep clients and tokens in memory, as an oauthlib integration must."""

    def __init__(self):
        self.tokens = {}

    def client_authentication_required(self, request, *args, **kwargs):
        return True

    def authenticate_client(self, request, *args, **kwargs):
        client_id, secret = request.client_id, request.client_secret
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):  # RFC 6749 §2.3.1: form-urlencoded id and secret
            raw_id, _, raw_secret = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if (client_id, secret) != (CLIENT_ID, SECRET):
            return False
        request.client = type("Client", (), {"client_id": client_id})()
        request.client_id = client_id
        return True

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        return grant_type == "client_credentials"

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        return SCOPES

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        return set(scopes) <= set(SCOPES)

    def save_bearer_token(self, token, request, *args, **kwargs):
        self.tokens[token["access_token"]] = token["scope"].split()

    def validate_bearer_token(self, token, scopes, request):
        return token in self.tokens and set(scopes) <= set(self.tokens[token])


@pytest.fixture
def oauth_server(httpserver, monkeypatch):
    validator = Validator()
    server = BackendApplicationServer(validator)

    def token_endpoint(request):
        headers, body, status = server.create_token_response(
            request.url, "POST", request.get_data(as_text=True), dict(request.headers)
        )
        return Response(body, status=status, headers=headers)

    def api(request):
        valid, _ = server.verify_request(
            request.url, "GET", None, dict(request.headers), scopes=["patients.read"]
        )
        return Response(json.dumps({"value": [1]}) if valid else "{}", status=200 if valid else 401)

    httpserver.expect_request("/token", method="POST").respond_with_handler(token_endpoint)
    httpserver.expect_request("/api/patients").respond_with_handler(api)

    def connect(**extra):
        conn = {
            "conn_type": "sap_hep",
            "host": httpserver.url_for("/api"),
            "login": CLIENT_ID,
            "password": SECRET,
            "extra": {"auth_url": httpserver.url_for("/token"), **extra},
        }
        monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
        return validator

    return connect


@pytest.mark.parametrize("client_auth", ["basic", "post"])
def test_hook_gets_tokens_from_oauthlib_and_calls_the_api(oauth_server, client_auth):
    validator = oauth_server(client_auth=client_auth, scope="patients.read")
    hook = HepHook()
    assert hook.run("patients").json() == {"value": [1]}
    assert hook.run("patients").json() == {"value": [1]}
    assert len(validator.tokens) == 2


def test_oauthlib_rejection_of_a_wrong_secret_is_reported_as_invalid_client(
    oauth_server, monkeypatch
):
    oauth_server()
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_SAP_HEP_DEFAULT"])
    conn["password"] = "wrong-secret-value"
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
    with pytest.raises(HepAuthError, match=r"invalid_client.*HTTP 401") as info:
        HepHook().get_token()
    assert info.value.error == "invalid_client"


def test_oauthlib_rejection_of_an_unknown_scope_is_reported_as_invalid_scope(oauth_server):
    oauth_server(scope="admin")
    with pytest.raises(HepAuthError, match="invalid_scope") as info:
        HepHook().get_token()
    assert info.value.status == 400
