"""Check the ``sap_hep_default`` connection end to end: a token, then one page of one patient.

Run it after saving the connection in the UI: ``airflow dags test hep_connection_check``.
"""

from __future__ import annotations

from airflow.sdk import DAG, task


@task
def count_patients() -> int:
    """Fetch at most one patient and return only how many came back (no patient data in XCom)."""
    from airflow_provider_hep.hooks.hep import HepHook

    response = HepHook().run("patients", params={"$top": "1"})
    return len(response.json()["value"])


with DAG(
    dag_id="hep_connection_check",
    schedule=None,
    catchup=False,
    tags=["hep", "example"],
    doc_md=__doc__,
) as hep_connection_check:
    count_patients()
