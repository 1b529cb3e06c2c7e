"""Collect the version-specific unit tests only where their Airflow APIs exist."""

from __future__ import annotations

import airflow.sdk.log as sdk_log
import pytest
from airflow.sdk.definitions.connection import Connection
from airflow.sdk.execution_time import comms

# The supervisor-comms harness drives DeadlockImminentError, which Airflow 3.3 introduced. On
# older versions the test module does not apply (it is not skipped: there is nothing to run).
collect_ignore = [] if hasattr(comms, "DeadlockImminentError") else ["test_trigger_comms.py"]


@pytest.fixture(params=["amask_secret", "no_amask_secret"])
def masking(request, monkeypatch):
    """Run on this Airflow (3.3: amask_secret, aextra_dejson) and as on Airflow before 3.3."""
    if request.param == "no_amask_secret":
        monkeypatch.delattr(sdk_log, "amask_secret", raising=False)
        monkeypatch.delattr(Connection, "aextra_dejson", raising=False)
    return request.param


@pytest.fixture
def sandbox(hep_sandbox_factory, monkeypatch):
    """Start a single-use-token sandbox and point sap_hep_default at it."""

    def start(*, conn_extra=None, **kwargs):
        kwargs.setdefault("single_use_tokens", True)
        sb = hep_sandbox_factory(kwargs.pop("records", 20), **kwargs)
        monkeypatch.setenv("AIRFLOW_CONN_SAP_HEP_DEFAULT", sb.conn_json(**(conn_extra or {})))
        return sb

    return start
