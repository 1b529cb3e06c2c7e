"""Declare the connection form's extra fields for Airflow before 3.2 (wtforms widgets).

Airflow 3.2+ builds the form from ``conn-fields`` in the provider info and never calls this.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hep import CONN_FIELDS


def legacy_form_widgets() -> dict[str, Any]:
    """Return wtforms fields equivalent to ``CONN_FIELDS``."""
    from wtforms import BooleanField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if "boolean" in kinds:
            widgets[name] = BooleanField(
                spec["label"], description=spec["description"], default=schema.get("default")
            )
        else:
            widgets[name] = StringField(
                spec["label"],
                description=spec["description"],
                default=schema.get("default"),
                validators=[Optional()],
            )
    return widgets
