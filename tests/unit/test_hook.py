"""HepHook against a real HTTP server on loopback (pytest-httpserver)."""

from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import parse_qs, unquote_plus

import pytest
from werkzeug import Response

from airflow_provider_hep.exceptions import HepApiError, HepAuthError, HepConfigError
from airflow_provider_hep.hooks import transport as transport_module
from airflow_provider_hep.hooks.hep import HepHook

SECRET = "s3cr:et+with&odd%chars and spaces"
CLIENT_ID = "hep-client"


class FakeHep:
    """Issue numbered tokens and record every request, so tests count at the server."""

    def __init__(self, server, ttl=299):
        self.server = server
        self.ttl = ttl
        self.token_forms = []
        self.token_auth = []
        self.api_tokens = []
        self.issued = []
        server.expect_request("/oauth/token", method="POST").respond_with_handler(self._token)

    def _token(self, request):
        self.token_forms.append(parse_qs(request.get_data(as_text=True)))
        self.token_auth.append(request.headers.get("Authorization"))
        value = f"tok-{len(self.issued):04d}-abcdefgh"
        self.issued.append(value)
        body = {
            "access_token": value,
            "token_type": "Bearer",
            "expires_in": self.ttl,
            "scope": "read",
        }
        return Response(json.dumps(body), content_type="application/json")

    def api(self, path, handler=None, method="GET", body=None, status=200):
        def respond(request):
            self.api_tokens.append(request.headers.get("Authorization", "").removeprefix("Bearer "))
            if handler:
                return handler(request)
            return Response(
                json.dumps(body if body is not None else {"ok": True}),
                status=status,
                content_type="application/json",
            )

        self.server.expect_request(path, method=method).respond_with_handler(respond)


@pytest.fixture
def hep(httpserver, monkeypatch):
    fake = FakeHep(httpserver)

    def connect(**extra):
        extra.setdefault("auth_url", httpserver.url_for("/oauth/token"))
        conn = {
            "conn_type": "sap_hep",
            "host": httpserver.url_for("/api"),
            "login": CLIENT_ID,
            "password": SECRET,
            "extra": extra,
        }
        monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
        return fake

    fake.connect = connect
    return fake


@pytest.fixture
def sleeps(monkeypatch):
    calls = []
    monkeypatch.setattr(transport_module, "_sleep", calls.append)
    return calls


def test_basic_client_auth_sends_rfc6749_encoded_header_and_form(hep):
    hep.connect(scope="read write", auth_params={"resource": "urn:hep"})
    HepHook().get_token()
    raw = base64.b64decode(hep.token_auth[0].removeprefix("Basic ")).decode()
    user, password = raw.split(":", 1)
    assert (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, SECRET)
    assert hep.token_forms[0] == {
        "grant_type": ["client_credentials"],
        "scope": ["read write"],
        "resource": ["urn:hep"],
    }


def test_post_client_auth_sends_credentials_as_form_fields(hep):
    hep.connect(client_auth="post")
    HepHook().get_token()
    assert hep.token_auth == [None]
    assert hep.token_forms[0]["client_secret"] == [SECRET]
    assert hep.token_forms[0]["client_id"] == [CLIENT_ID]


def test_per_call_policy_takes_exactly_one_new_token_per_api_call(hep):
    hep.connect()
    hep.api("/api/patients", body={"value": []})
    hook = HepHook()
    for _ in range(5):
        assert hook.run("patients").json() == {"value": []}
    assert len(hep.issued) == 5
    assert hep.api_tokens == hep.issued


def test_per_task_policy_reuses_one_token_and_renews_it_early(hep, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(transport_module, "_monotonic", lambda: clock[0])
    hep.connect(auth_policy="per_task")
    hep.api("/api/patients")
    hook = HepHook()
    for _ in range(3):
        hook.run("patients")
    assert len(hep.issued) == 1
    clock[0] += 299 - 59  # 59 s left: below min(60, 299/2)
    hook.run("patients")
    assert len(hep.issued) == 2
    assert hep.api_tokens == [hep.issued[0]] * 3 + [hep.issued[1]]


def test_a_401_triggers_one_new_token_and_one_replay(hep):
    hep.connect(auth_policy="per_task")
    answers = iter([401, 200])
    hep.api("/api/patients", handler=lambda r: Response("{}", status=next(answers)))
    hook = HepHook()
    assert hook.run("patients").status_code == 200
    assert len(hep.issued) == 2
    assert hep.api_tokens == hep.issued


def test_a_second_401_is_not_replayed_again(hep):
    hep.connect()
    hep.api("/api/patients", status=401, body={"error": "invalid_token"})
    with pytest.raises(HepApiError, match="answered 401 to GET /api/patients") as info:
        HepHook().run("patients")
    assert info.value.status == 401
    assert len(hep.api_tokens) == 2


def test_429_is_retried_after_retry_after_with_a_fresh_token(hep, sleeps):
    hep.connect()
    answers = iter(
        [Response("{}", status=429, headers={"Retry-After": "2"}), Response('{"ok": 1}')]
    )
    hep.api("/api/patients", handler=lambda r: next(answers))
    assert HepHook().run("patients").json() == {"ok": 1}
    assert sleeps == [2.0]
    assert len(hep.issued) == 2
    assert hep.api_tokens == hep.issued


def test_retries_are_bounded_by_max_retries(hep, sleeps):
    hep.connect()
    hep.api("/api/patients", status=503, body={"error": "down"})
    with pytest.raises(HepApiError, match="503"):
        HepHook(max_retries=3).run("patients")
    assert len(sleeps) == 3
    assert len(hep.api_tokens) == 4


def test_400_is_not_retried_and_the_error_carries_path_but_no_query_values(hep, sleeps):
    hep.connect()
    hep.api("/api/patients", status=400, body={"error": {"message": "bad filter"}})
    with pytest.raises(
        HepApiError, match=r"answered 400 to GET /api/patients: .*bad filter"
    ) as info:
        HepHook().run("patients", params={"$filter": "id eq 'PATIENT-SSN-123'"})
    assert "PATIENT-SSN-123" not in str(info.value)
    assert sleeps == []
    assert info.value.path == "/api/patients"


def test_post_is_not_retried_after_a_read_timeout(hep, sleeps):
    hep.connect(timeout=0.5)
    posts = []

    def slow(request):
        posts.append(request.get_data())
        time.sleep(1.2)
        return Response("{}", status=201)

    hep.api("/api/messages", handler=slow, method="POST")
    with pytest.raises(
        transport_module.HepTransportError, match="POST /api/messages failed after 1 attempt"
    ):
        HepHook().run("messages", method="POST", json={"text": "hello"})
    assert len(posts) == 1
    assert sleeps == []


def test_get_is_retried_after_a_read_timeout(hep, sleeps):
    hep.connect(timeout=0.5)
    calls = []

    def slow_once(request):
        calls.append(1)
        if len(calls) == 1:
            time.sleep(1.2)
        return Response('{"ok": true}')

    hep.api("/api/patients", handler=slow_once)
    assert HepHook().run("patients").json() == {"ok": True}
    assert len(calls) == 2
    assert sleeps


def use_token_endpoint(httpserver, monkeypatch):
    """Point sap_hep_default at ``httpserver``'s /oauth/token, as the tests below program it."""
    conn = {
        "conn_type": "sap_hep",
        "host": httpserver.url_for("/api"),
        "login": "c",
        "password": SECRET,
        "extra": {"auth_url": httpserver.url_for("/oauth/token")},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))


def test_token_endpoint_errors_map_to_hep_auth_error_without_retry(httpserver, monkeypatch, sleeps):
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "invalid_client", "error_description": "bad secret"}, status=401
    )
    use_token_endpoint(httpserver, monkeypatch)
    with pytest.raises(HepAuthError, match=r"invalid_client \(bad secret\) \[HTTP 401\]"):
        HepHook().get_token()
    assert sleeps == []
    ok, message = HepHook().test_connection()
    assert not ok
    assert "invalid_client" in message
    assert SECRET not in message


def test_token_endpoint_5xx_is_retried_and_html_is_reported_clearly(
    httpserver, monkeypatch, sleeps
):
    httpserver.expect_request("/oauth/token").respond_with_data(
        "<html>Bad gateway</html>", status=502
    )
    use_token_endpoint(httpserver, monkeypatch)
    with pytest.raises(
        HepAuthError, match=r"answered 502 with a body that is not JSON: '<html>Bad gateway"
    ):
        HepHook(max_retries=2).get_token()
    assert len(sleeps) == 2


def test_test_connection_reports_the_token_lifetime(hep):
    hep.connect()
    ok, message = HepHook().test_connection()
    assert ok
    assert (
        message
        == f"Token issued by {hep.server.url_for('/oauth/token')}: expires in 299 s, scope read"
    )


def test_test_connection_makes_one_attempt_even_when_the_failure_is_retryable(
    httpserver, monkeypatch, sleeps
):
    # A Test button must answer at once: a 503 that get_token() would retry is reported as is.
    httpserver.expect_request("/oauth/token").respond_with_json(
        {"error": "temporarily_unavailable"}, status=503
    )
    use_token_endpoint(httpserver, monkeypatch)
    ok, message = HepHook().test_connection()
    assert not ok
    assert "temporarily_unavailable" in message
    assert len(httpserver.log) == 1
    assert sleeps == []


def test_test_connection_reports_an_untrusted_certificate_with_the_fix(
    hep_sandbox_factory, monkeypatch
):
    sandbox = hep_sandbox_factory(records=1, tls=True)
    conn = json.loads(sandbox.conn_json())
    del conn["extra"]["ca_bundle"]  # the sandbox's own CA is not trusted
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
    ok, message = HepHook().test_connection()
    assert not ok
    assert message.startswith("TLS verification failed for 127.0.0.1")
    assert "set the connection's ca_bundle" in message
    assert sandbox.stats["token_requests"] == 0


def test_test_connection_reports_an_unreachable_endpoint(monkeypatch):
    conn = {
        "conn_type": "sap_hep",
        "host": "http://127.0.0.1:9/api",
        "login": "c",
        "password": SECRET,
        "extra": {"auth_url": "http://127.0.0.1:9/oauth/token"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
    assert HepHook().test_connection() == (
        False,
        "token endpoint http://127.0.0.1:9/oauth/token unreachable: connection refused or host not found",
    )


def test_a_bad_connection_fails_at_hook_creation(monkeypatch):
    conn = {
        "conn_type": "sap_hep",
        "host": "http://api.example.com",
        "login": "c",
        "password": SECRET,
        "extra": {"auth_url": "https://auth.example.com/t"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
    with pytest.raises(HepConfigError, match="host: plain http:// to api.example.com"):
        HepHook()


def test_redirect_to_another_host_is_refused_and_carries_no_token(hep, httpserver):
    hep.connect()
    hep.api(
        "/api/moved",
        handler=lambda r: Response(
            "", status=302, headers={"Location": "http://localhost.invalid:1/x"}
        ),
    )
    with pytest.raises(
        HepApiError, match=r"refused a redirect to another host \(localhost.invalid\)"
    ):
        HepHook().run("moved")


def test_same_host_redirect_is_followed_with_a_fresh_token(hep):
    hep.connect()
    hep.api(
        "/api/old", handler=lambda r: Response("", status=307, headers={"Location": "/api/new"})
    )
    hep.api("/api/new", body={"moved": True})
    assert HepHook().run("old").json() == {"moved": True}
    assert hep.api_tokens == hep.issued
    assert len(hep.issued) == 2


def test_absolute_endpoint_on_another_host_is_refused(hep):
    hep.connect()
    with pytest.raises(HepApiError, match="not the connection's API host"):
        HepHook().run("https://elsewhere.example.com/api/patients")


def test_connection_headers_are_sent_to_the_api_only(hep):
    hep.connect(headers={"X-Tenant": "t-1"})
    seen = []
    hep.api(
        "/api/patients",
        handler=lambda r: (seen.append(r.headers.get("X-Tenant")), Response("{}"))[1],
    )
    HepHook().run("patients")
    assert seen == ["t-1"]


def test_debug_output_never_holds_a_token_or_the_secret(hep, caplog, capsys):
    hep.connect()
    hep.api("/api/patients", body={"value": []})
    caplog.set_level(logging.DEBUG)
    hook = HepHook()
    for _ in range(20):
        hook.run("patients")
    out = caplog.text + "".join(capsys.readouterr())
    assert len(hep.issued) == 20
    for secret in [SECRET, *hep.issued]:
        assert secret not in out
    assert "/api/patients" in caplog.text or "127.0.0.1" in caplog.text


def test_connection_extras_are_shown_in_clear_by_redact_except_the_secret():
    from airflow.sdk.log import redact

    extras = {
        "auth_url": "https://a/t",
        "auth_policy": "per_call",
        "auth_params": {"resource": "r"},
        "client_auth": "basic",
        "scope": "s",
        "ca_bundle": "/x",
        "allow_insecure_http": False,
        "headers": {"X": "y"},
        "timeout": 3,
        "verify": True,
    }
    assert redact(extras) == extras
    assert redact({"password": SECRET})["password"] == "***"
