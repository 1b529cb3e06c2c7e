"""The control flow both hooks share: retries, the one 401 replay, redirects, messages.

The hooks' own tests drive these paths over real loopback servers (requests and httpx); these
pin the decisions themselves, one answer at a time.
"""

from __future__ import annotations

import email.utils

import pytest

from airflow_provider_hep.exceptions import HepApiError
from airflow_provider_hep.exchange import Exchange, Step, tls_failure_message
from airflow_provider_hep.retry import RETRY_AFTER_CAP_SECONDS, Failure, Target
from airflow_provider_hep.routing import MAX_REDIRECTS

URL = "https://api.example.test/hep/v1/patients"


def api(method: str = "GET", max_retries: int = 3, **kwargs) -> Exchange:
    return Exchange(Target.API, method, URL, max_retries, **kwargs)


def test_a_2xx_answer_is_done_without_retries():
    exchange = api()
    assert exchange.after_answer(200) is Step.DONE
    assert (exchange.retries, exchange.attempts) == (0, 1)


def test_the_method_is_normalised():
    assert api("post").method == "POST"


def test_a_401_is_replayed_once_with_a_new_token_then_fails():
    exchange = api()
    assert exchange.after_answer(401) is Step.REAUTHENTICATE
    assert exchange.after_answer(401) is Step.FAIL
    assert exchange.retries == 0  # the replay is not a retry


def test_transient_statuses_are_retried_until_the_budget_is_spent():
    exchange = api(max_retries=2)
    assert exchange.after_answer(503) is Step.RETRY
    assert exchange.after_answer(502) is Step.RETRY
    assert exchange.after_answer(503) is Step.FAIL
    assert (exchange.retries, exchange.attempts) == (2, 3)


def test_retry_after_seconds_and_http_dates_set_the_delay():
    exchange = api()
    assert exchange.after_answer(429, {"Retry-After": "7"}) is Step.RETRY
    assert exchange.delay == 7.0
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert exchange.after_answer(429, {"Retry-After": date}, now=now) is Step.RETRY
    assert exchange.delay == pytest.approx(30.0, abs=1.0)
    assert exchange.after_answer(429, {"Retry-After": "86400"}) is Step.RETRY
    assert exchange.delay == RETRY_AFTER_CAP_SECONDS
    assert "retry 3 of 3" in exchange.retry_note


def test_a_post_is_not_retried_after_a_500_or_a_lost_answer():
    assert api("POST").after_answer(500) is Step.FAIL
    assert api("POST").after_no_answer(Failure.READ_TIMEOUT) is Step.FAIL
    assert api("POST").after_no_answer(Failure.CONNECT) is Step.RETRY


def test_an_idempotency_key_makes_a_post_retryable():
    assert api("POST", idempotency_key=True).after_answer(500) is Step.RETRY
    assert api("POST", idempotency_key=True).after_no_answer(Failure.BROKEN) is Step.RETRY


def test_without_raise_for_status_an_error_answer_is_returned_unretried():
    exchange = api(raise_for_status=False)
    assert exchange.after_answer(503) is Step.DONE
    assert exchange.retries == 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_same_host_redirect_keeps_method_and_body_and_drops_the_query(status):
    exchange = api("PUT", params={"$top": 5}, json={"a": 1})
    assert exchange.after_answer(status, {"Location": "/hep/v2/patients"}) is Step.REDIRECT
    assert exchange.url == "https://api.example.test/hep/v2/patients"
    assert (exchange.method, exchange.json, exchange.params) == ("PUT", {"a": 1}, None)


def test_a_303_turns_the_request_into_a_bodiless_get():
    exchange = api("POST", json={"a": 1}, data="x")
    assert exchange.after_answer(303, {"Location": "/hep/v1/jobs/1"}) is Step.REDIRECT
    assert (exchange.method, exchange.json, exchange.data) == ("GET", None, None)
    assert exchange.path == "/hep/v1/jobs/1"


def test_a_redirect_to_another_host_is_refused_before_anything_is_sent():
    exchange = api()
    with pytest.raises(HepApiError, match=r"another host \(evil\.test\)"):
        exchange.after_answer(302, {"Location": "https://evil.test/steal"})
    assert exchange.url == URL


def test_a_redirect_loop_ends():
    exchange = api()
    for _ in range(MAX_REDIRECTS):
        assert exchange.after_answer(307, {"Location": URL}) is Step.REDIRECT
    with pytest.raises(HepApiError, match="too many redirects"):
        exchange.after_answer(307, {"Location": URL})


def test_a_redirect_without_location_is_returned_as_it_came():
    exchange = api()
    assert exchange.after_answer(302) is Step.DONE
    assert (exchange.url, exchange.redirects) == (URL, 0)


def test_token_errors_retry_only_when_the_endpoint_failed():
    token = Exchange(Target.TOKEN, "POST", "https://auth.example.test/oauth/token", 2)
    assert token.after_token_error(400, retryable=False) is Step.FAIL
    assert token.after_token_error(503, {"Retry-After": "2"}, retryable=True) is Step.RETRY
    assert token.delay == 2.0
    assert token.after_no_answer(Failure.READ_TIMEOUT) is Step.RETRY
    assert token.after_no_answer(Failure.CONNECT) is Step.FAIL  # budget of 2 spent


def test_messages_name_method_path_and_attempts_but_never_the_query():
    exchange = Exchange(Target.API, "GET", f"{URL}?$filter=name eq 'Jane Doe'", 1)
    exchange.after_no_answer(Failure.BROKEN)
    message = exchange.no_answer_message("connection reset")
    assert message == "GET /hep/v1/patients failed after 2 attempt(s): connection reset"
    token = Exchange(Target.TOKEN, "POST", "https://auth.example.test/oauth/token", 0)
    assert token.no_answer_message("refused") == (
        "token endpoint https://auth.example.test/oauth/token unreachable: refused"
    )


def test_the_tls_message_names_the_host_and_the_fix():
    message = tls_failure_message(URL)
    assert "api.example.test" in message
    assert "ca_bundle" in message
