"""The one retry predicate and its helpers."""

from __future__ import annotations

import email.utils

import pytest

from airflow_provider_hep.retry import (
    RETRY_AFTER_CAP_SECONDS,
    Attempt,
    Failure,
    Target,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_get_is_retried_on_transient_statuses(status):
    assert is_retryable(Attempt(Target.API, "GET", status=status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_client_errors_are_never_retried(status):
    assert not is_retryable(Attempt(Target.API, "GET", status=status))
    assert not is_retryable(Attempt(Target.API, "POST", status=status))


@pytest.mark.parametrize("failure", list(Failure))
def test_get_is_retried_after_any_transport_failure(failure):
    assert is_retryable(Attempt(Target.API, "GET", failure=failure))


def test_post_is_retried_only_when_surely_not_processed():
    assert is_retryable(Attempt(Target.API, "POST", failure=Failure.CONNECT))
    assert is_retryable(Attempt(Target.API, "POST", status=429))
    assert is_retryable(Attempt(Target.API, "POST", status=503, retry_after=1.0))
    assert not is_retryable(Attempt(Target.API, "POST", failure=Failure.READ_TIMEOUT))
    assert not is_retryable(Attempt(Target.API, "POST", failure=Failure.BROKEN))
    assert not is_retryable(Attempt(Target.API, "PATCH", status=502))
    assert not is_retryable(Attempt(Target.API, "POST", status=504))
    assert not is_retryable(Attempt(Target.API, "POST", status=500))
    assert not is_retryable(Attempt(Target.API, "POST", status=503))


def test_an_idempotency_key_makes_post_retryable_like_get():
    assert is_retryable(
        Attempt(Target.API, "POST", failure=Failure.READ_TIMEOUT, idempotency_key=True)
    )
    assert is_retryable(Attempt(Target.API, "POST", status=502, idempotency_key=True))


def test_token_endpoint_retries_only_5xx_and_transport_failures():
    assert is_retryable(Attempt(Target.TOKEN, "POST", status=503))
    assert is_retryable(Attempt(Target.TOKEN, "POST", status=500))
    assert is_retryable(Attempt(Target.TOKEN, "POST", failure=Failure.READ_TIMEOUT))
    assert not is_retryable(Attempt(Target.TOKEN, "POST", status=429))
    assert not is_retryable(Attempt(Target.TOKEN, "POST", status=401))


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("7", now=0) == 7.0
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after("garbage", now=0) is None
    assert parse_retry_after(None, now=0) is None


def test_backoff_grows_with_jitter_and_honours_a_capped_retry_after():
    assert 0.25 <= backoff_delay(1) <= 0.5
    assert 2.0 <= backoff_delay(4) <= 4.0
    assert backoff_delay(30) <= 30.0
    assert backoff_delay(1, retry_after=3.0) == 3.0
    assert backoff_delay(1, retry_after=10_000.0) == RETRY_AFTER_CAP_SECONDS
