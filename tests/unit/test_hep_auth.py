"""HepAuth gives the stock HTTP provider a fresh HEP token per request."""

from __future__ import annotations

import json

import pytest
from airflow.providers.http.hooks.http import HttpHook
from airflow.providers.http.operators.http import HttpOperator
from werkzeug import Response

from airflow_provider_hep.exceptions import HepConfigError
from airflow_provider_hep.hooks.hep import HepAuth

SECRET = "hep-auth-secret-xyz"
SAP_HEP_SETTINGS = {
    "auth_url",
    "scope",
    "client_auth",
    "auth_policy",
    "timeout",
    "verify",
    "allow_insecure_http",
}


@pytest.fixture
def server(httpserver, monkeypatch):
    state = {"issued": [], "seen": []}

    def token(request):
        state["issued"].append(f"tok-{len(state['issued'])}-abcdef")
        return Response(
            json.dumps(
                {"access_token": state["issued"][-1], "token_type": "Bearer", "expires_in": 299}
            )
        )

    def page(request):
        state["seen"].append(dict(request.headers))
        auth = request.headers.get("Authorization", "")
        if auth.removeprefix("Bearer ") not in state["issued"] or auth in {
            h.get("Authorization") for h in state["seen"][:-1]
        }:
            return Response('{"error": "invalid_token"}', status=401)
        number = int(request.args.get("page", "1"))
        return Response(json.dumps({"data": [number], "next": number + 1 if number < 3 else None}))

    httpserver.expect_request("/oauth/token", method="POST").respond_with_handler(token)
    httpserver.expect_request("/api/items").respond_with_handler(page)
    hep = {
        "conn_type": "sap_hep",
        "host": httpserver.url_for("/api"),
        "login": "cid",
        "password": SECRET,
        "extra": {
            "auth_url": httpserver.url_for("/oauth/token"),
            "scope": "read",
            "auth_policy": "per_call",
            "timeout": 5,
            "verify": True,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_MY_HEP", json.dumps(hep))
    monkeypatch.setenv(
        "AIRFLOW_CONN_HEP_HTTP",
        json.dumps({"conn_type": "http", "host": httpserver.url_for("/api")}),
    )
    return state


def next_page(response):
    following = response.json()["next"]
    return {"data": {"page": following}} if following else None


def test_stock_http_operator_pages_with_a_fresh_token_per_request(server):
    operator = HttpOperator(
        task_id="items",
        http_conn_id="hep_http",
        endpoint="items",
        method="GET",
        auth_type=HepAuth.for_connection("my_hep"),
        pagination_function=next_page,
        response_filter=lambda responses: [r.json()["data"][0] for r in responses],
    )
    assert operator.execute(context={}) == [1, 2, 3]
    assert len(server["issued"]) == 3
    assert [h["Authorization"] for h in server["seen"]] == [f"Bearer {t}" for t in server["issued"]]


def test_no_sap_hep_setting_is_sent_as_a_request_header(server):
    HttpHook(method="GET", http_conn_id="hep_http", auth_type=HepAuth.for_connection("my_hep")).run(
        "items"
    )
    sent = {name.lower() for name in server["seen"][0]}
    assert not sent & SAP_HEP_SETTINGS
    assert SECRET not in json.dumps(server["seen"])


def test_a_401_is_replayed_once_with_a_new_token(server, httpserver):
    answers = iter([401, 200])
    tokens = []

    def flaky(request):
        tokens.append(request.headers["Authorization"])
        return Response("{}", status=next(answers))

    httpserver.expect_request("/api/flaky").respond_with_handler(flaky)
    hook = HttpHook(
        method="GET", http_conn_id="hep_http", auth_type=HepAuth.for_connection("my_hep")
    )
    response = hook.run("flaky")
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert tokens == [f"Bearer {t}" for t in server["issued"]]
    assert len(tokens) == 2


def test_http_hook_passing_its_own_login_and_password_is_tolerated():
    assert HepAuth("user", "pass", hep_conn_id="x").hep_conn_id == "x"


def test_a_positional_connection_id_is_refused_with_the_fix():
    with pytest.raises(HepConfigError, match=r"HepAuth\(hep_conn_id="):
        HepAuth("my_hep")
