"""With ``tls=True`` the sandbox serves HTTPS with a throw-away CA that clients must trust."""

from __future__ import annotations

import json
import os

import pytest
import requests


@pytest.fixture
def tls_sandbox(hep_sandbox_factory):
    return hep_sandbox_factory(tls=True)


def test_urls_use_https_and_a_ca_bundle_is_written(tls_sandbox):
    assert tls_sandbox.base_url.startswith("https://127.0.0.1:")
    assert tls_sandbox.token_url.startswith("https://127.0.0.1:")
    with open(tls_sandbox.ca_bundle) as handle:
        assert handle.read().startswith("-----BEGIN CERTIFICATE-----")


def test_requests_verifying_against_the_ca_bundle_work_end_to_end(tls_sandbox, session_for):
    session = session_for(tls_sandbox)

    answer = session.get(f"{tls_sandbox.base_url}/patients", timeout=10)

    assert answer.status_code == 200
    assert len(answer.json()["value"]) == 100


def test_the_certificate_is_valid_for_localhost_too(tls_sandbox):
    url = tls_sandbox.base_url.replace("127.0.0.1", "localhost") + "/health"

    answer = requests.get(url, verify=tls_sandbox.ca_bundle, timeout=10)

    assert answer.status_code == 200


def test_default_verification_rejects_the_sandbox_certificate(tls_sandbox):
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{tls_sandbox.base_url}/health", timeout=10)

    assert requests.get(
        f"{tls_sandbox.base_url}/health", verify=tls_sandbox.ca_bundle, timeout=10
    ).ok


def test_conn_json_carries_the_ca_bundle(tls_sandbox):
    extra = json.loads(tls_sandbox.conn_json())["extra"]

    assert extra == {"auth_url": tls_sandbox.token_url, "ca_bundle": tls_sandbox.ca_bundle}


def test_stop_deletes_the_generated_files(hep_sandbox_factory):
    sb = hep_sandbox_factory(tls=True)
    bundle = sb.ca_bundle

    sb.stop()

    assert not os.path.exists(bundle)
    assert sb.ca_bundle is None
