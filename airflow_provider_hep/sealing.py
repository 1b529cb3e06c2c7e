"""Seal response bodies that must cross the metadata DB, with Airflow's own Fernet key.

A deferrable call's answer travels from the triggerer to the worker inside a trigger event,
which Airflow stores in the metadata DB and logs in the triggerer. The body can hold patient
data, so it travels encrypted: only processes that hold ``[core] fernet_key`` can read it.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_hep.exceptions import HepConfigError


def _fernet() -> Any:
    from airflow.providers.common.compat.sdk import conf
    from cryptography.fernet import Fernet, MultiFernet

    keys = [k.strip() for k in str(conf.get("core", "fernet_key", fallback="")).split(",")]
    keys = [k for k in keys if k and not k.startswith("{")]  # "{FERNET_KEY}": no airflow.cfg
    if not keys:
        raise HepConfigError(
            "fernet_key",
            "a deferrable HepOperator call encrypts the response in its trigger event with "
            "Airflow's Fernet key; set [core] fernet_key (AIRFLOW__CORE__FERNET_KEY), or run "
            "the call without deferrable=True",
        )
    return MultiFernet([Fernet(key.encode()) for key in keys])


def seal(text: str) -> str:
    """Encrypt ``text`` with the deployment's Fernet key."""
    return str(_fernet().encrypt(text.encode("utf-8")).decode("ascii"))


def unseal(token: str) -> str:
    """Decrypt what :func:`seal` produced."""
    return str(_fernet().decrypt(token.encode("ascii")).decode("utf-8"))
