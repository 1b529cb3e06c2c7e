"""TLS against the sandbox's HTTPS mode: trusted only through the connection's ca_bundle."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest
from hep_testing import WINDOW, WINDOW_END, ids_via_manifest

from airflow_provider_hep.exceptions import HepConfigError, HepTransportError
from airflow_provider_hep.hooks.hep import HepHook
from airflow_provider_hep.hooks.hep_async import HepAsyncHook

pytestmark = pytest.mark.dags

CONN_ENV = "AIRFLOW_CONN_SAP_HEP_DEFAULT"
TLS_FIX = (
    r"TLS verification failed for 127\.0\.0\.1: the server's certificate is not trusted\. "
    r"If it is signed by a private CA, set the connection's ca_bundle"
)
VERIFY_OFF = "TLS verification is OFF for the HEP connection"


@pytest.fixture
def tls(hep_sandbox_factory):
    return hep_sandbox_factory(records=300, tls=True, single_use_tokens=True)


def connect(monkeypatch, sandbox, **extra) -> None:
    monkeypatch.setenv(CONN_ENV, sandbox.conn_json(**extra))


async def async_get(endpoint: str) -> int:
    async with HepAsyncHook() as hook:
        return (await hook.run(endpoint)).status_code


def test_the_default_verification_fails_naming_the_ca_bundle_fix(tls, monkeypatch):
    connect(monkeypatch, tls, ca_bundle=None)  # the system CAs do not know the sandbox CA
    with pytest.raises(HepTransportError, match=TLS_FIX):
        HepHook().run("patients")
    with pytest.raises(HepTransportError, match=TLS_FIX):
        asyncio.run(async_get("patients"))
    assert tls.stats["tokens_issued"] == 0


def test_the_sandbox_ca_as_a_file_path_is_trusted(tls, monkeypatch):
    connect(monkeypatch, tls)  # conn_json() puts the CA file path in ca_bundle
    assert Path(json.loads(os.environ[CONN_ENV])["extra"]["ca_bundle"]).is_file()
    assert HepHook().run("patients").status_code == 200
    assert asyncio.run(async_get("patients")) == 200


def test_the_sandbox_ca_as_pem_text_is_trusted_and_its_temporary_file_removed(tls, monkeypatch):
    connect(monkeypatch, tls, ca_bundle=Path(tls.ca_bundle).read_text())
    hook = HepHook()
    assert hook.run("patients").status_code == 200
    pem_file = hook.transport.verify
    assert isinstance(pem_file, str)
    assert pem_file != tls.ca_bundle
    assert Path(pem_file).is_file()
    hook.close()
    assert not Path(pem_file).exists()
    assert asyncio.run(async_get("patients")) == 200


def test_verify_false_works_and_warns_once_per_hook_as_development_only(tls, monkeypatch, caplog):
    connect(monkeypatch, tls, ca_bundle=None, verify=False)
    caplog.set_level(logging.WARNING)
    hook = HepHook()
    for _ in range(3):
        assert hook.run("patients").status_code == 200
    warnings = [r.getMessage() for r in caplog.records if VERIFY_OFF in r.getMessage()]
    assert len(warnings) == 1
    assert "development only" in warnings[0]

    caplog.clear()
    assert asyncio.run(async_get("patients")) == 200
    warnings = [r.getMessage() for r in caplog.records if VERIFY_OFF in r.getMessage()]
    assert len(warnings) == 1


def test_plain_http_to_a_host_that_is_not_loopback_is_refused_unless_allowed(monkeypatch):
    conn = {
        "conn_type": "sap_hep",
        "host": "http://hep.example.com/api/v1",
        "login": "client",
        "password": "tls-test-secret",
        "extra": {"auth_url": "https://hep.example.com/oauth/token"},
    }
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    with pytest.raises(HepConfigError, match=r"host: plain http:// to hep\.example\.com would"):
        HepHook()
    conn["extra"]["allow_insecure_http"] = "true"
    monkeypatch.setenv(CONN_ENV, json.dumps(conn))
    assert HepHook().config.base_url == "http://hep.example.com/api/v1"


def test_the_example_sync_dag_runs_over_tls_with_the_ca_as_pem_text(
    load_dag, tls, monkeypatch, tmp_path
):
    connect(monkeypatch, tls, ca_bundle=Path(tls.ca_bundle).read_text())
    dag = load_dag("hep_incremental_sync.py", "hep_incremental_sync")
    run = dag.test(logical_date=WINDOW_END, run_conf={"destination_root": str(tmp_path)})
    assert run.state == "success"
    for collection in ("patients", "appointments"):
        ids = ids_via_manifest(tmp_path / collection / "start=20260101T040000")
        truth = tls.truth(collection, *WINDOW)["current"]
        assert set(ids) == set(truth)
        assert len(ids) == len(truth) > 0
