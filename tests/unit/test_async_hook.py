"""HepAsyncHook against the HEP sandbox on loopback, on a running event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path

import pytest

from airflow_provider_hep.exceptions import (
    HepApiError,
    HepAuthError,
    HepConfigError,
    HepTransportError,
)
from airflow_provider_hep.hooks import hep_async
from airflow_provider_hep.hooks.hep_async import HepAsyncHook
from airflow_provider_hep.retry import Failure

CONN_ENV = "AIRFLOW_CONN_SAP_HEP_DEFAULT"


@pytest.fixture
def sleeps(monkeypatch):
    calls = []

    async def record(delay):
        calls.append(delay)

    monkeypatch.setattr(hep_async, "_sleep", record)
    return calls


def run(coro):
    return asyncio.run(coro)


async def calls(n, endpoint="patients", **kwargs):
    async with HepAsyncHook() as hook:
        return [await hook.run(endpoint, **kwargs) for _ in range(n)]


def test_every_call_gets_its_own_fresh_token_under_single_use_tokens(sandbox):
    sb = sandbox()
    answers = run(calls(5, params={"$top": 2}))
    assert [len(a.json()["value"]) for a in answers] == [2] * 5
    stats = sb.stats
    assert stats["tokens_issued"] == stats["api_calls_ok"] == 5
    assert stats["calls_per_token"] == {"max": 1, "tokens_used": 5, "tokens_reused": 0}
    assert stats["auth_failures"] == 0


def test_per_task_policy_reuses_one_token(sandbox):
    sb = sandbox(single_use_tokens=False, conn_extra={"auth_policy": "per_task"})
    run(calls(4))
    assert sb.stats["tokens_issued"] == 1
    assert sb.stats["calls_per_token"]["max"] == 4


def test_post_sends_the_json_body_and_returns_the_created_record(sandbox):
    sb = sandbox()
    (answer,) = run(
        calls(1, "messages", method="POST", json={"patientId": "PAT-0000001", "text": "hello"})
    )
    assert answer.status_code == 201
    assert answer.json()["text"] == "hello"
    assert sb.stats["writes_applied"] == 1


def test_none_valued_query_parameters_are_dropped_like_the_sync_hook_does(sandbox):
    sandbox()
    (answer,) = run(calls(1, params={"$top": None, "$orderby": "id"}))
    assert answer.json()["value"][0]["id"] == "PAT-0000001"


def test_429_is_retried_after_retry_after_with_a_fresh_token(sandbox, sleeps):
    sb = sandbox(faults="429:first=1:retry_after=3")
    (answer,) = run(calls(1))
    assert answer.status_code == 200
    assert sleeps == [3.0]
    assert sb.stats["faults_injected"] == {"429": 1}
    assert sb.stats["calls_per_token"]["tokens_reused"] == 0


def test_retries_are_bounded_by_max_retries(sandbox, sleeps):
    sb = sandbox(faults="503")

    async def call():
        async with HepAsyncHook(max_retries=2) as hook:
            await hook.run("patients")

    with pytest.raises(HepApiError, match="answered 503 to GET /api/v1/patients") as info:
        run(call())
    assert info.value.status == 503
    assert len(sleeps) == 2
    assert sb.stats["faults_injected"] == {"503": 3}


def test_a_revoked_token_is_replaced_once_and_the_call_replayed(sandbox):
    sb = sandbox(faults="revoke:first=1")
    (answer,) = run(calls(1))
    assert answer.status_code == 200
    assert sb.stats["auth_failures"] == 1
    assert sb.stats["tokens_issued"] == 2


def test_a_second_401_is_not_replayed_again(sandbox, sleeps):
    sb = sandbox(faults="revoke:first=2")
    with pytest.raises(HepApiError, match="answered 401 to GET /api/v1/patients") as info:
        run(calls(1))
    assert info.value.status == 401
    assert sb.stats["auth_failures"] == 2
    assert sleeps == []


def test_invalid_client_is_an_auth_error_without_retry(sandbox, sleeps, monkeypatch):
    sb = sandbox(client_secret="the-real-secret")
    sb_conn = json.loads(sb.conn_json())
    sb_conn["password"] = "a-wrong-secret"
    monkeypatch.setenv(CONN_ENV, json.dumps(sb_conn))
    with pytest.raises(HepAuthError, match=r"invalid_client .*\[HTTP 401\]") as info:
        run(calls(1))
    assert (info.value.error, info.value.status) == ("invalid_client", 401)
    assert sleeps == []
    assert "a-wrong-secret" not in str(info.value)


def test_token_endpoint_5xx_is_retried(sandbox, sleeps):
    sb = sandbox(faults="token_fail:first=2:status=503")
    (answer,) = run(calls(1))
    assert answer.status_code == 200
    assert len(sleeps) == 2
    assert sb.stats["token_requests"] == 3


def test_an_unreachable_token_endpoint_is_reported_as_refused(monkeypatch, sleeps):
    conn = {
        "conn_type": "sap_hep",
        "host": "http://127.0.0.1:9/api",
        "login": "client",
        "password": "secret-12345",
        "extra": {"auth_url": "http://127.0.0.1:9/oauth/token"},
    }
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))

    async def call():
        async with HepAsyncHook(max_retries=1) as hook:
            await hook.get_token()

    with pytest.raises(
        HepAuthError,
        match=r"^token endpoint http://127.0.0.1:9/oauth/token unreachable: "
        r"connection refused or host not found$",
    ):
        run(call())
    assert len(sleeps) == 1


def test_a_get_is_retried_after_a_read_timeout(sandbox, sleeps):
    sb = sandbox(faults="delay:first=1:seconds=1.5", conn_extra={"timeout": 1})
    (answer,) = run(calls(1))
    assert answer.status_code == 200
    assert len(sleeps) == 1
    assert sb.stats["requests_by_path"]["/api/v1/patients"] == 2


def test_a_post_is_not_retried_after_a_read_timeout(sandbox, sleeps):
    sb = sandbox(faults="delay:first=1:seconds=1.5", conn_extra={"timeout": 1})
    with pytest.raises(
        HepTransportError, match="POST /api/v1/messages failed after 1 attempt"
    ) as info:
        run(calls(1, "messages", method="POST", json={"patientId": "P-1", "text": "hi"}))
    assert info.value.failure is Failure.READ_TIMEOUT
    assert sleeps == []
    assert sb.stats["requests_by_path"]["/api/v1/messages"] == 1


def test_a_connection_reset_mid_body_is_retried_for_a_get(sandbox, sleeps):
    sb = sandbox(faults="reset:first=1")
    (answer,) = run(calls(1))
    assert answer.status_code == 200
    assert len(sleeps) == 1
    assert sb.stats["faults_injected"] == {"reset": 1}


def test_a_connection_reset_is_not_retried_for_a_post(sandbox, sleeps):
    sandbox(faults="reset:first=1")
    with pytest.raises(HepTransportError, match="connection broken") as info:
        run(calls(1, "messages", method="POST", json={"patientId": "P-1", "text": "hi"}))
    assert info.value.failure is Failure.BROKEN
    assert sleeps == []


def test_a_refused_api_connection_is_classified_as_connect(sandbox, sleeps, monkeypatch):
    sb = sandbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    conn = json.loads(sb.conn_json())
    conn["host"] = f"http://127.0.0.1:{closed_port}/api/v1"
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))

    async def call():
        async with HepAsyncHook(max_retries=1) as hook:
            await hook.run("messages", method="POST", json={"patientId": "P-1", "text": "x"})

    with pytest.raises(HepTransportError, match="connection refused") as info:
        run(call())
    assert info.value.failure is Failure.CONNECT
    assert len(sleeps) == 1  # never sent, so even a POST is retried


def test_a_redirect_to_another_host_is_refused(sandbox):
    sandbox()
    with pytest.raises(
        HepApiError, match=r"refused a redirect to another host \(elsewhere.invalid\)"
    ) as info:
        run(calls(1, "redirect", params={"to": "http://elsewhere.invalid/x", "code": "302"}))
    assert info.value.status == 302


def test_a_same_host_redirect_is_followed_with_a_fresh_token(sandbox):
    sb = sandbox()
    target = f"{sb.base_url}/patients/PAT-0000002"
    (answer,) = run(calls(1, "redirect", params={"to": target, "code": "307"}))
    assert answer.json()["id"] == "PAT-0000002"
    assert sb.stats["calls_per_token"] == {"max": 1, "tokens_used": 2, "tokens_reused": 0}


def test_an_absolute_endpoint_on_another_host_is_refused(sandbox):
    sandbox()
    with pytest.raises(HepApiError, match="not the connection's API host"):
        run(calls(1, "https://elsewhere.example.com/api/v1/patients"))


def test_a_bad_connection_fails_when_the_hook_resolves_it(monkeypatch):
    conn = {
        "conn_type": "sap_hep",
        "host": "https://api.example.com",
        "login": "client",
        "password": "secret-12345",
        "extra": {"auth_url": "https://auth.example.com/t", "tokn_url": "x"},
    }
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    with pytest.raises(HepConfigError, match=r"extra: unknown setting\(s\) tokn_url"):
        run(calls(1))


def test_tls_with_the_ca_bundle_as_pem_text_works(sandbox, monkeypatch):
    sb = sandbox(tls=True)
    pem = Path(sb.ca_bundle).read_text()
    sb_conn = json.loads(sb.conn_json(ca_bundle=pem))
    monkeypatch.setenv(CONN_ENV, json.dumps(sb_conn))
    (answer,) = run(calls(1, "patients/PAT-0000001"))
    assert answer.json()["id"] == "PAT-0000001"


def test_tls_with_the_ca_bundle_as_a_path_works(sandbox):
    sandbox(tls=True)  # conn_json carries the CA file path
    (answer,) = run(calls(1, "patients/PAT-0000001"))
    assert answer.status_code == 200


def test_an_untrusted_certificate_is_explained_and_not_retried(sandbox, sleeps, monkeypatch):
    sb = sandbox(tls=True)
    sb_conn = json.loads(sb.conn_json())
    del sb_conn["extra"]["ca_bundle"]
    monkeypatch.setenv(CONN_ENV, json.dumps(sb_conn))
    with pytest.raises(HepTransportError, match="TLS verification failed for 127.0.0.1"):
        run(calls(1))
    assert sleeps == []


def test_verify_false_trusts_any_server(sandbox, monkeypatch):
    sb = sandbox(tls=True)
    sb_conn = json.loads(sb.conn_json(verify=False))
    del sb_conn["extra"]["ca_bundle"]
    monkeypatch.setenv(CONN_ENV, json.dumps(sb_conn))
    (answer,) = run(calls(1))
    assert answer.status_code == 200


def test_the_client_secret_is_registered_with_the_masker(sandbox):
    from airflow.sdk.log import redact

    secret = "async-hook-secret-7f3a"
    sandbox(client_secret=secret)
    run(calls(1))
    assert redact(f"leaked {secret}") == "leaked ***"


def test_debug_output_never_holds_a_token_or_the_secret(sandbox, caplog, capsys):
    sb = sandbox(client_secret="debug-output-secret-91b")
    caplog.set_level(logging.DEBUG)
    run(calls(10))
    out = caplog.text + "".join(capsys.readouterr())
    assert len(sb.stats["tokens"]) == 10
    assert "127.0.0.1" in out  # httpx's debug lines were captured
    for secret in [sb.client_secret, *sb.stats["tokens"]]:
        assert secret not in out


def test_closing_the_hook_closes_the_client_and_a_new_call_reopens_it(sandbox):
    sb = sandbox()

    async def twice():
        hook = HepAsyncHook()
        await hook.run("patients")
        await hook.aclose()
        await hook.run("patients")
        await hook.aclose()

    run(twice())
    assert sb.stats["api_calls_ok"] == 2
