"""Connection parsing: every refusal names the field and never shows the secret."""

from __future__ import annotations

import pytest

from airflow_provider_hep.config import ALLOWED_EXTRAS, HepConnectionConfig, origin_of
from airflow_provider_hep.exceptions import HepConfigError

SECRET = "very-secret-value-123"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def build(host="https://api.example.com/hep/v1", login="client", password=SECRET, **extra):
    extra.setdefault("auth_url", "https://auth.example.com/oauth/token")
    return HepConnectionConfig.from_values(host=host, login=login, password=password, extra=extra)


def test_defaults_follow_hep_rules():
    config = build()
    assert config.base_url == "https://api.example.com/hep/v1"
    assert (config.client_auth, config.auth_policy, config.verify) == ("basic", "per_call", True)
    assert config.timeout == 30.0
    assert SECRET not in repr(config)


def test_values_from_the_ui_form_are_strings_and_are_converted():
    config = build(
        verify="false",
        timeout="12.5",
        allow_insecure_http="0",
        auth_params='{"resource": "r1"}',
        headers='{"X-Tenant": "t1"}',
        scope="  a   b ",
        client_auth="post",
        auth_policy="per_task",
    )
    assert config.verify is False
    assert config.timeout == 12.5
    assert config.auth_params == {"resource": "r1"}
    assert config.headers == {"X-Tenant": "t1"}
    assert config.scope == "a b"
    assert (config.client_auth, config.auth_policy) == ("post", "per_task")


def test_empty_form_fields_mean_defaults_and_legacy_prefixes_are_accepted():
    config = HepConnectionConfig.from_values(
        host="api.example.com",
        login="c",
        password=SECRET,
        extra={
            "extra__sap_hep__auth_url": "https://a.example.com/t",
            "scope": "",
            "ca_bundle": None,
        },
    )
    assert config.base_url == "https://api.example.com"
    assert config.auth_url == "https://a.example.com/t"
    assert config.scope is None


def test_pem_text_is_accepted_as_ca_bundle():
    assert build(ca_bundle=PEM).ca_bundle == PEM.strip()


@pytest.mark.parametrize(
    ("kwargs", "field", "match"),
    [
        ({"host": ""}, "host", "API base URL is missing"),
        ({"login": ""}, "login", "Client ID is missing"),
        ({"password": None}, "password", "Client Secret is missing"),
        ({"auth_url": None}, "auth_url", "token endpoint URL is missing"),
        ({"auth_url": "ftp://x.example.com/t"}, "auth_url", "must be an http"),
        ({"auth_url": "https://a.example.com/t?x=1"}, "auth_url", "query string"),
        ({"host": "http://api.example.com"}, "host", "unencrypted.*allow_insecure_http"),
        ({"auth_url": "http://auth.example.com/t"}, "auth_url", "unencrypted"),
        ({"client_auth": "jwt"}, "client_auth", "'jwt' is not one of: basic, post"),
        ({"auth_policy": "sometimes"}, "auth_policy", "not one of: per_call, per_task"),
        ({"auth_params": "{not json"}, "auth_params", "not valid JSON"),
        ({"headers": "[1]"}, "headers", "must be a JSON object"),
        ({"headers": {"X": {"nested": 1}}}, "headers", "values must be strings"),
        ({"timeout": "soon"}, "timeout", "not a number"),
        ({"timeout": -1}, "timeout", "more than 0 and at most 3600"),
        ({"verify": "maybe"}, "verify", "not a boolean"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "ca_bundle", "neither PEM text nor a readable file"),
        (
            {"token_url": "https://x"},
            "extra",
            "unknown setting.*token_url.*allowed settings are: auth_url",
        ),
    ],
)
def test_each_bad_value_is_refused_naming_its_field(kwargs, field, match):
    with pytest.raises(HepConfigError, match=match) as info:
        build(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert SECRET not in str(info.value)


def test_extra_that_is_not_json_is_refused():
    with pytest.raises(HepConfigError, match="extra: is not valid JSON"):
        HepConnectionConfig.from_values(host="h.example.com", login="c", password=SECRET, extra="{")


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9", "http://127.9.9.9"]
)
def test_plain_http_is_allowed_for_loopback_hosts(host):
    assert build(host=host, auth_url=f"{host}/token").base_url == host


def test_plain_http_elsewhere_needs_the_explicit_opt_in():
    config = build(
        host="http://api.internal", auth_url="http://auth.internal/t", allow_insecure_http=True
    )
    assert config.allow_insecure_http


def test_no_extra_name_contains_a_word_airflow_masks():
    for name in ALLOWED_EXTRAS:
        for word in ("token", "secret", "password", "key"):
            assert word not in name


def test_origin_normalises_case_and_default_ports():
    assert origin_of("HTTPS://API.Example.com:443/x") == "https://api.example.com"
    assert origin_of("http://127.0.0.1:8080/a?b") == "http://127.0.0.1:8080"
