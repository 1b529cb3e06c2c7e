"""Apache Airflow provider for the SAP Health for Patient Engagement (HEP) APIs."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

CONN_TYPE = "sap_hep"
DEFAULT_CONN_ID = "sap_hep_default"
HOOK_NAME = "SAP Health for Patient Engagement"

# Field order here is the order the Airflow UI shows them in.
CONN_FIELDS: dict[str, dict[str, Any]] = {
    "auth_url": {
        "label": "Token endpoint URL",
        "description": "OAuth 2.0 token endpoint of your HEP tenant, "
        "e.g. https://auth.example.com/oauth/token. Required.",
        "schema": {"type": "string", "format": "url", "minLength": 1},
    },
    "scope": {
        "label": "Scope",
        "description": "Space-separated OAuth scopes to request. "
        "Leave empty for the client's default.",
        "schema": {"type": ["string", "null"]},
    },
    "client_auth": {
        "label": "Client authentication",
        "description": "How the Client ID and Secret reach the token endpoint: 'basic' "
        "(HTTP Basic header, RFC 6749 §2.3.1) or 'post' (form fields).",
        "schema": {"type": "string", "enum": ["basic", "post"], "default": "basic"},
    },
    "auth_policy": {
        "label": "Token policy",
        "description": "'per_call' requests a new token for every API call, as HEP requires. "
        "'per_task' reuses one token for a task run and renews it before it expires.",
        "schema": {"type": "string", "enum": ["per_call", "per_task"], "default": "per_call"},
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Connect and read timeout for each HTTP request.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
    },
    "verify": {
        "label": "Verify TLS certificates",
        "description": "Turn off only for local development: "
        "the connection then trusts any server.",
        "schema": {"type": "boolean", "default": True},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "A path to a PEM file, or the PEM text itself, to trust a private "
        "certificate authority. Pasted PEM text travels with the connection to every worker.",
        "schema": {"type": ["string", "null"], "format": "multiline"},
    },
    "auth_params": {
        "label": "Extra token request parameters",
        "description": 'JSON object added to the token request form, e.g. {"resource": "..."}.',
        "schema": {"type": ["object", "null"]},
    },
    "headers": {
        "label": "Extra API headers",
        "description": "JSON object of headers sent with every API call "
        "(never to the token endpoint).",
        "schema": {"type": ["object", "null"]},
    },
    "allow_insecure_http": {
        "label": "Allow plain http://",
        "description": "Allow http:// URLs for hosts other than localhost. Credentials and patient "
        "data then cross the network unencrypted. Development only.",
        "schema": {"type": "boolean", "default": False},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "API base URL", "login": "Client ID", "password": "Client Secret"},
    "placeholders": {
        "host": "https://api.example.com/hep/v1",
        "login": "client_id from the HEP Authentication tab",
        "password": "client_secret from the HEP Authentication tab",
        "auth_url": "https://auth.example.com/oauth/token",
        "scope": "patients.read appointments.read",
    },
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider metadata that Airflow's ProvidersManager reads."""
    return {
        "package-name": "airflow-provider-hep",
        "name": HOOK_NAME,
        "description": "Hooks, operators, sensors and triggers for the SAP Health for Patient "
        "Engagement (HEP) APIs, with OAuth 2.0 client credentials.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": HOOK_NAME,
                "external-doc-url": "https://www.sap.com/hep",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {"integration-name": HOOK_NAME, "python-modules": ["airflow_provider_hep.hooks.hep"]}
        ],
        "connection-types": [
            {
                "connection-type": CONN_TYPE,
                "hook-class-name": "airflow_provider_hep.hooks.hep.HepHook",
                "hook-name": HOOK_NAME,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
                "conn-fields": CONN_FIELDS,
            }
        ],
    }
