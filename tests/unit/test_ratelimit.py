"""The client-side rate limiter spaces requests evenly, token requests included."""

from __future__ import annotations

import json

import pytest
from werkzeug import Response

from airflow_provider_hep.hooks import transport as transport_module
from airflow_provider_hep.hooks.hep import HepHook
from airflow_provider_hep.ratelimit import RateLimiter


def test_slots_are_spaced_by_the_interval():
    limiter = RateLimiter(per_second=4)
    assert [limiter.reserve(10.0) for _ in range(3)] == [0.0, 0.25, 0.5]
    assert limiter.reserve(11.0) == 0.0


def test_a_non_positive_rate_is_refused():
    with pytest.raises(ValueError, match="greater than 0"):
        RateLimiter(0)


def test_the_hook_waits_before_token_and_api_requests(httpserver, monkeypatch):
    clock = [100.0]
    waits = []
    monkeypatch.setattr(transport_module, "_monotonic", lambda: clock[0])
    monkeypatch.setattr(transport_module, "_sleep", waits.append)
    httpserver.expect_request("/oauth/token").respond_with_handler(
        lambda r: Response(json.dumps({"access_token": "abcdefgh", "token_type": "Bearer"}))
    )
    httpserver.expect_request("/api/x").respond_with_json({})
    conn = {
        "conn_type": "sap_hep",
        "host": httpserver.url_for("/api"),
        "login": "c",
        "password": "secret-123",
        "extra": {"auth_url": httpserver.url_for("/oauth/token")},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", json.dumps(conn))
    hook = HepHook(max_requests_per_second=2)
    hook.run("x")
    hook.run("x")
    assert waits == [0.5, 1.0, 1.5]  # token, call, token, call: 4 requests at 2 per second
