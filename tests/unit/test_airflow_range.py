"""The supported Airflow range: what is declared is what CI tests, and each version takes its path.

`make compat` runs this file on the lowest supported Airflow, the latest 3.2.x and the latest
release. Where Airflow's APIs differ inside the range, each test asserts the side this Airflow
must take, so both sides are exercised across the compat venvs:
- the connection form: Airflow 3.2+ reads ``conn-fields`` from the provider info, earlier
  versions call the hook's ``get_connection_form_widgets`` and ``get_ui_field_behaviour``;
- async connection lookup: from Airflow 3.3.2 ``aget_connection`` masks asynchronously and is
  used; before, common-compat runs the sync ``get_connection`` in a worker thread;
- async masking: ``amask_secret`` from Airflow 3.3, the sync ``mask_secret`` in a thread before.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from importlib import metadata
from pathlib import Path

import airflow
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from airflow_provider_hep import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_hep.hooks.hep_async import HepAsyncHook, amask_config
from airflow_provider_hep.sandbox.pytest_plugin import (  # noqa: F401 - fixtures
    hep_connection,
    hep_sandbox,
    hep_sandbox_factory,
)

REPO = Path(__file__).resolve().parents[2]


def airflow_at_least(version: str) -> bool:
    """Tell whether the installed Airflow is ``version`` or later (pre-releases count as final)."""
    return Version(Version(airflow.__version__).base_version) >= Version(version)


def declared_requirements() -> dict[str, Requirement]:
    """Return the provider's install requirements (no extras), by project name."""
    requirements = [Requirement(r) for r in metadata.requires("airflow-provider-hep") or []]
    return {r.name: r for r in requirements if r.marker is None}


def ci_compat_specs() -> list[tuple[str, str]]:
    """Return (Airflow version, Python version) for each `make compat` run, from the Makefile."""
    match = re.search(r"^COMPAT_AIRFLOW \?= (.+)$", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile sets no COMPAT_AIRFLOW"
    specs = []
    for spec in match.group(1).split():
        version, _, python = spec.partition("@")
        specs.append((version, python.removeprefix("python")))
    return specs


def test_the_installed_airflow_is_in_the_declared_range():
    assert airflow.__version__ in declared_requirements()["apache-airflow"].specifier


def test_ci_tests_the_declared_airflow_floor_first():
    floor = next(
        spec.version
        for spec in declared_requirements()["apache-airflow"].specifier
        if spec.operator == ">="
    )
    assert ci_compat_specs()[0][0] == floor


def test_the_supported_versions_section_states_what_ci_tests():
    text = (REPO / "README.md").read_text()
    assert "## Supported versions" in text
    for airflow_version, python_version in ci_compat_specs():
        assert f"Airflow {airflow_version}" in text
        assert f"Python {python_version}" in text


# -- the connection form ------------------------------------------------------------------------
# The UI's own service builds the form metadata; run it in a child process, because before 3.2
# it replaces wtforms and flask_appbuilder in sys.modules with mocks.
FORM_METADATA = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "sap_hep"]
print(json.dumps(meta.model_dump(mode="json"), default=str))
"""


@pytest.fixture(scope="module")
def form_metadata(tmp_path_factory):
    """Return the UI's connection form metadata of `sap_hep`, as this Airflow builds it."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path_factory.mktemp("form-home"))}
    result = subprocess.run(
        [sys.executable, "-c", FORM_METADATA], env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_ui_form_offers_every_conn_field_in_order(form_metadata):
    assert list(form_metadata["extra_fields"]) == list(CONN_FIELDS)


def test_the_ui_form_relabels_and_hides_the_standard_fields(form_metadata):
    standard = form_metadata["standard_fields"]
    assert standard["host"]["title"] == UI_FIELD_BEHAVIOUR["relabeling"]["host"]
    assert standard["login"]["title"] == UI_FIELD_BEHAVIOUR["relabeling"]["login"]
    assert standard["password"]["title"] == UI_FIELD_BEHAVIOUR["relabeling"]["password"]
    assert standard["port"]["hidden"] is True
    assert standard["url_schema"]["hidden"] is True


def test_the_ui_form_comes_from_conn_fields_on_3_2_and_from_the_hook_before(form_metadata):
    extra = form_metadata["extra_fields"]
    if airflow_at_least("3.2"):
        # conn-fields: the JSON schema as declared, e.g. a number and enums.
        for name, spec in CONN_FIELDS.items():
            assert extra[name]["schema"]["type"] == spec["schema"]["type"], name
        assert extra["client_auth"]["schema"]["enum"] == ["basic", "post"]
    else:
        # get_connection_form_widgets: wtforms fields, every one a nullable string or boolean.
        for name, spec in CONN_FIELDS.items():
            kinds = spec["schema"]["type"]
            kind = "boolean" if "boolean" in kinds else "string"
            assert extra[name]["schema"]["type"] == [kind, "null"], name
        assert "enum" not in extra["client_auth"]["schema"]


# -- async connection lookup and masking ----------------------------------------------------------
class RecordingAsyncHook(HepAsyncHook):
    """Record the threads that the sync ``get_connection`` runs on (a subclass, not a patch)."""

    sync_lookups: list[threading.Thread] = []

    @classmethod
    def get_connection(cls, conn_id):
        cls.sync_lookups.append(threading.current_thread())
        return super().get_connection(conn_id)


def test_the_async_hook_looks_up_its_connection_the_way_this_airflow_allows(hep_connection):  # noqa: F811
    RecordingAsyncHook.sync_lookups = []

    async def resolve():
        async with RecordingAsyncHook() as hook:
            return await hook.aconfig(), threading.current_thread()

    config, loop_thread = asyncio.run(resolve())
    assert config.base_url == hep_connection.base_url
    if airflow_at_least("3.3.2"):
        assert RecordingAsyncHook.sync_lookups == []  # aget_connection, on the loop
    else:
        (lookup_thread,) = RecordingAsyncHook.sync_lookups
        assert lookup_thread is not loop_thread  # get_connection, in a worker thread


def test_async_masking_uses_amask_secret_from_3_3_and_a_thread_before(hep_connection):  # noqa: F811
    import airflow.sdk.log as sdk_log
    from airflow.sdk.log import redact

    assert hasattr(sdk_log, "amask_secret") is airflow_at_least("3.3")

    async def mask():
        async with HepAsyncHook() as hook:
            await amask_config(await hook.aconfig())

    asyncio.run(mask())
    assert redact(f"x {hep_connection.client_secret} y") == "x *** y"
