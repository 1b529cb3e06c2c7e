"""Provider metadata: both schema checks, the entry point, and `airflow providers list`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_hep import CONN_FIELDS, __version__, get_provider_info
from airflow_provider_hep.config import ALLOWED_EXTRAS

AIRFLOW_DIR = Path(airflow.__file__).parent


def _schema(name):
    return json.loads((AIRFLOW_DIR / name).read_text())


def test_provider_info_passes_airflows_provider_info_schema():
    jsonschema.validate(get_provider_info(), _schema("provider_info.schema.json"))


def test_connection_type_passes_the_strict_connection_types_definition():
    strict = _schema("provider.yaml.schema.json")["properties"]["connection-types"]
    jsonschema.validate(get_provider_info()["connection-types"], strict)


STRICT = _schema("provider.yaml.schema.json")["properties"]["connection-types"]

# Airflow 3.2+ describes conn-fields (and rejects unknown keys in them); 3.1's schema knows only
# connection-type and hook-class-name, so there is nothing stricter to check against there.
if "conn-fields" in STRICT["items"]["properties"]:

    def test_the_strict_definition_rejects_a_misspelled_key():
        entry = dict(get_provider_info()["connection-types"][0])
        entry["conn-fields"] = {"auth_url": {**CONN_FIELDS["auth_url"], "lable": "typo"}}
        with pytest.raises(jsonschema.ValidationError, match="lable"):
            jsonschema.validate([entry], STRICT)


def test_every_extra_is_declared_as_a_conn_field_in_order():
    assert tuple(CONN_FIELDS) == ALLOWED_EXTRAS


def test_provider_info_reports_the_package_version():
    assert get_provider_info()["versions"] == [__version__]


def test_the_entry_point_returns_the_provider_info():
    (entry,) = [
        ep
        for ep in metadata.entry_points(group="apache_airflow_provider")
        if ep.value.startswith("airflow_provider_hep")
    ]
    assert entry.load()() == get_provider_info()


def test_airflow_lists_the_provider_and_the_connection_type(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    cli = [sys.executable, "-m", "airflow"]
    listing = subprocess.run(
        [*cli, "providers", "list", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert {"package_name": "airflow-provider-hep", "version": __version__} in [
        {k: p[k] for k in ("package_name", "version")} for p in json.loads(listing.stdout)
    ]
    hooks = subprocess.run(
        [*cli, "providers", "hooks", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert hooks.returncode == 0, hooks.stderr[-2000:]
    entry = next(h for h in json.loads(hooks.stdout) if h["connection_type"] == "sap_hep")
    assert entry["class"] == "airflow_provider_hep.hooks.hep.HepHook"
