"""Provide pytest fixtures that run a HEP sandbox (opt-in plugin; it never imports airflow).

Enable with ``pytest -p airflow_provider_hep.sandbox.pytest_plugin`` or, in the ROOT
``conftest.py``, ``pytest_plugins = ["airflow_provider_hep.sandbox.pytest_plugin"]``.
A non-root conftest can import the fixtures instead:
``from airflow_provider_hep.sandbox.pytest_plugin import hep_sandbox  # noqa: F401``.

Fixtures: ``hep_sandbox`` (a started default sandbox), ``hep_sandbox_factory`` (call with
:class:`HepSandbox` keyword arguments; every sandbox it made is stopped at teardown) and
``hep_connection`` (``hep_sandbox`` with ``AIRFLOW_CONN_SAP_HEP_DEFAULT`` set to its
:meth:`HepSandbox.conn_json`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .sandbox import HepSandbox

CONN_ENV = "AIRFLOW_CONN_SAP_HEP_DEFAULT"


@pytest.fixture
def hep_sandbox_factory() -> Iterator[Callable[..., HepSandbox]]:
    """Yield a function that starts a sandbox with the given kwargs; stop them all after."""
    started: list[HepSandbox] = []

    def make(records: int = 1000, **kwargs: Any) -> HepSandbox:
        sandbox = HepSandbox(records, **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in reversed(started):
        sandbox.stop()


@pytest.fixture
def hep_sandbox(hep_sandbox_factory: Callable[..., HepSandbox]) -> HepSandbox:
    """Return a started sandbox with default settings."""
    return hep_sandbox_factory()


@pytest.fixture
def hep_connection(hep_sandbox: HepSandbox, monkeypatch: pytest.MonkeyPatch) -> HepSandbox:
    """Point the ``sap_hep_default`` Airflow connection at ``hep_sandbox``; return it."""
    monkeypatch.setenv(CONN_ENV, hep_sandbox.conn_json())
    return hep_sandbox
