"""Apache Airflow provider for the SAP Health for Patient Engagement (HEP) APIs."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

CONN_TYPE = "sap_hep"
DEFAULT_CONN_ID = "sap_hep_default"
HOOK_NAME = "SAP Health for Patient Engagement"

# How Airflow 3.2+'s React UI renders these (checked in a real browser, tests/ui):
# - Fields are grouped into accordion sections by ``schema.section``, in order of first
#   appearance; only one section is open at a time. Within a section, this dict's order holds.
# - A ``type`` without "null" marks the field required: an asterisk, "This field is required"
#   while empty, and Save disabled. Hence "null" on every optional field, booleans included.
# - ``enum`` gives a dropdown whose option labels come from ``values_display``.
# - ``format: multiline`` gives a textarea; ``object`` gives a JSON editor that validates as
#   you type and stores a real JSON object (a string field would store JSON inside a string).
# - Placeholders in UI_FIELD_BEHAVIOUR reach only the standard fields, so examples for the
#   extras live in their descriptions.
_OAUTH_SECTION = "OAuth token request"
_HTTP_SECTION = "HTTP and TLS (optional)"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "auth_url": {
        "label": "Token endpoint URL",
        "description": "OAuth 2.0 token endpoint of your HEP tenant, "
        "e.g. https://auth.example.com/oauth/token.",
        "schema": {"type": "string", "format": "url", "minLength": 1, "section": _OAUTH_SECTION},
    },
    "scope": {
        "label": "Scope",
        "description": "Space-separated OAuth scopes, e.g. patients.read appointments.read. "
        "Leave empty to get the client's default scopes.",
        "schema": {"type": ["string", "null"], "section": _OAUTH_SECTION},
    },
    "client_auth": {
        "label": "Client authentication",
        "description": "How the Client ID and Client Secret reach the token endpoint "
        "(RFC 6749 §2.3.1). Keep the default unless your tenant asks for form fields.",
        "schema": {
            "type": "string",
            "enum": ["basic", "post"],
            "default": "basic",
            "values_display": {
                "basic": "HTTP Basic header (default)",
                "post": "Form fields in the request body",
            },
            "section": _OAUTH_SECTION,
        },
    },
    "auth_policy": {
        "label": "Token policy",
        "description": "When to request a token. HEP expects a new token for every API call.",
        "schema": {
            "type": "string",
            "enum": ["per_call", "per_task"],
            "default": "per_call",
            "values_display": {
                "per_call": "A new token for every API call (default)",
                "per_task": "One token per task run, renewed before it expires",
            },
            "section": _OAUTH_SECTION,
        },
    },
    "timeout": {
        "label": "Timeout (seconds)",
        "description": "Connect and read timeout for each HTTP request, 1 to 3600. Default 30.",
        "schema": {
            "type": ["number", "null"],
            "minimum": 1,
            "maximum": 3600,
            "default": 30,
            "section": _HTTP_SECTION,
        },
    },
    "verify": {
        "label": "Verify TLS certificates",
        "description": "Turn off only for local development: "
        "the connection then trusts any server.",
        "schema": {"type": ["boolean", "null"], "default": True, "section": _HTTP_SECTION},
    },
    "ca_bundle": {
        "label": "CA bundle",
        "description": "To trust a private certificate authority: a path to a PEM file on the "
        "workers, or the PEM text itself (it then travels with the connection to every worker).",
        "schema": {"type": ["string", "null"], "format": "multiline", "section": _HTTP_SECTION},
    },
    "auth_params": {
        "label": "Extra token request parameters",
        "description": "JSON object of form fields added to the token request, e.g. "
        '{"resource": "https://api.example.com"}. Leave {} for none.',
        "schema": {"type": ["object", "null"], "section": _OAUTH_SECTION},
    },
    "headers": {
        "label": "Extra API headers",
        "description": "JSON object of headers sent with every API call (never to the token "
        'endpoint), e.g. {"X-Tenant": "clinic-a"}. Not for secrets: anyone who can view '
        "connections sees them.",
        "schema": {"type": ["object", "null"], "section": _HTTP_SECTION},
    },
    "allow_insecure_http": {
        "label": "Allow plain http://",
        "description": "Allow http:// URLs for hosts other than localhost. Credentials and patient "
        "data then cross the network unencrypted. Development only.",
        "schema": {"type": ["boolean", "null"], "default": False, "section": _HTTP_SECTION},
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"host": "API base URL", "login": "Client ID", "password": "Client Secret"},
    "placeholders": {
        "host": "https://api.example.com/hep/v1",
        "login": "client_id from the HEP Authentication tab",
        "password": "client_secret from the HEP Authentication tab",
        # Read by Airflow's older (FAB) connection form only; the React UI ignores extras here.
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
            {
                "integration-name": HOOK_NAME,
                "python-modules": [
                    "airflow_provider_hep.hooks.hep",
                    "airflow_provider_hep.hooks.hep_async",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": HOOK_NAME,
                "python-modules": [
                    "airflow_provider_hep.operators.hep",
                    "airflow_provider_hep.operators.sync",
                ],
            }
        ],
        "sensors": [
            {"integration-name": HOOK_NAME, "python-modules": ["airflow_provider_hep.sensors.hep"]}
        ],
        "triggers": [
            {
                "integration-name": HOOK_NAME,
                "python-modules": ["airflow_provider_hep.triggers.hep"],
            }
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
