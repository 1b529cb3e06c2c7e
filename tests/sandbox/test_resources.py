"""Single records, messages CRUD with idempotency keys, async exports, redirects and health."""

from __future__ import annotations

import re

import pytest
import requests


def test_records_are_synthetic_and_plainly_fake(hep_sandbox):
    patient = hep_sandbox.records("patients")[0]

    assert patient["id"] == "PAT-0000001"
    assert re.fullmatch(r"Testperson-\d{4}", patient["lastName"])
    assert patient["mrn"].startswith("FAKE-MRN-")
    assert patient["email"].endswith("@example.invalid")
    assert re.fullmatch(r"2026-01-01T\d\d:\d\d:\d\dZ", patient["lastModified"])


def test_the_same_seed_gives_the_same_data_and_another_seed_does_not(hep_sandbox_factory):
    first = hep_sandbox_factory(records=20, seed=7).records("appointments")
    again = hep_sandbox_factory(records=20, seed=7).records("appointments")
    other = hep_sandbox_factory(records=20, seed=8).records("appointments")

    assert first == again
    assert first != other


def test_a_record_can_be_fetched_by_id(hep_sandbox, api):
    answer = api.get(f"{hep_sandbox.base_url}/appointments/APT-0000042", timeout=10)

    assert answer.status_code == 200
    assert answer.json() == hep_sandbox.records("appointments")[41]


@pytest.mark.parametrize("rid", ["PAT-9999999", "APT-0000001", "PAT-1", "nonsense"])
def test_an_unknown_id_is_a_404_with_an_odata_error(hep_sandbox, api, rid):
    answer = api.get(f"{hep_sandbox.base_url}/patients/{rid}", timeout=10)

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "NotFound"


def test_unknown_collections_are_404(hep_sandbox, api):
    assert api.get(f"{hep_sandbox.base_url}/doctors", timeout=10).status_code == 404


def test_messages_support_create_read_patch_and_delete(hep_sandbox, api):
    url = f"{hep_sandbox.base_url}/messages"

    created = api.post(url, json={"patientId": "PAT-0000001", "text": "hello"}, timeout=10)
    mid = created.json()["id"]
    patched = api.patch(f"{url}/{mid}", json={"text": "changed"}, timeout=10)
    listed = api.get(url, timeout=10).json()["value"]
    deleted = api.delete(f"{url}/{mid}", timeout=10)
    gone = api.get(f"{url}/{mid}", timeout=10)

    assert created.status_code == 201
    assert created.headers["Location"] == f"{url}/{mid}"
    assert mid == "MSG-0000001"
    assert patched.json() == {
        **created.json(),
        "text": "changed",
        "lastModified": patched.json()["lastModified"],
    }
    assert [m["text"] for m in listed] == ["changed"]
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert hep_sandbox.stats["writes_applied"] == 3


@pytest.mark.parametrize(
    ("payload", "target"),
    [
        ({"text": "hi"}, "patientId"),
        ({"patientId": "PAT-0000001"}, "text"),
        ({"patientId": 5, "text": "hi"}, "patientId"),
        ({"patientId": "PAT-0000001", "text": ""}, "text"),
        ({"patientId": "PAT-0000001", "text": "hi", "priority": 1}, "priority"),
    ],
)
def test_invalid_messages_get_a_validation_error_naming_the_field(
    hep_sandbox, api, payload, target
):
    answer = api.post(f"{hep_sandbox.base_url}/messages", json=payload, timeout=10)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ValidationError"
    assert answer.json()["error"]["target"] == target
    assert hep_sandbox.stats["writes_applied"] == 0


def test_a_non_json_message_body_is_a_validation_error(hep_sandbox, api):
    answer = api.post(f"{hep_sandbox.base_url}/messages", data=b"{nope", timeout=10)

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ValidationError"


def test_a_repeated_idempotency_key_replays_the_first_answer_without_writing_again(
    hep_sandbox, api
):
    url = f"{hep_sandbox.base_url}/messages"
    headers = {"Idempotency-Key": "key-1"}
    body = {"patientId": "PAT-0000001", "text": "once"}

    first = api.post(url, json=body, headers=headers, timeout=10)
    second = api.post(url, json=body, headers=headers, timeout=10)
    third = api.post(url, json=body, headers={"Idempotency-Key": "key-2"}, timeout=10)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert third.json()["id"] == "MSG-0000002"
    assert hep_sandbox.stats["writes_applied"] == 2
    assert len(hep_sandbox.records("messages")) == 2


def test_an_idempotency_key_reused_for_another_operation_is_rejected(hep_sandbox, api):
    url = f"{hep_sandbox.base_url}/messages"
    headers = {"Idempotency-Key": "key-1"}
    created = api.post(url, json={"patientId": "P", "text": "x"}, headers=headers, timeout=10)

    answer = api.delete(f"{url}/{created.json()['id']}", headers=headers, timeout=10)

    assert answer.status_code == 422


def test_patching_or_deleting_an_unknown_message_is_404(hep_sandbox, api):
    url = f"{hep_sandbox.base_url}/messages/MSG-0000099"

    assert api.patch(url, json={"text": "x"}, timeout=10).status_code == 404
    assert api.delete(url, timeout=10).status_code == 404


def test_read_only_collections_refuse_writes(hep_sandbox, api):
    answer = api.post(f"{hep_sandbox.base_url}/patients", json={}, timeout=10)

    assert answer.status_code == 405


def test_an_export_runs_until_polled_ready_after_times_then_is_done(hep_sandbox, api):
    url = f"{hep_sandbox.base_url}/exports"

    started = api.post(url, json={"collection": "patients", "ready_after": 2}, timeout=10)
    job = started.json()["id"]
    polls = [api.get(f"{url}/{job}", timeout=10).json() for _ in range(3)]

    assert started.status_code == 202
    assert started.json() == {"id": job, "status": "running"}
    assert [p["status"] for p in polls] == ["running", "running", "done"]
    assert polls[-1] == {"id": job, "status": "done", "records": 1000}


def test_bad_export_requests_and_unknown_jobs_are_rejected(hep_sandbox, api):
    url = f"{hep_sandbox.base_url}/exports"

    bad_collection = api.post(url, json={"collection": "doctors"}, timeout=10)
    bad_ready = api.post(url, json={"collection": "patients", "ready_after": "2"}, timeout=10)
    unknown = api.get(f"{url}/EXP-9999999", timeout=10)

    assert bad_collection.json()["error"]["target"] == "collection"
    assert bad_ready.json()["error"]["target"] == "ready_after"
    assert unknown.status_code == 404


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_the_redirect_endpoint_answers_the_requested_redirect(hep_sandbox, api, code):
    target = "http://elsewhere.example.invalid/x"

    answer = api.get(
        f"{hep_sandbox.base_url}/redirect",
        params={"to": target, "code": code},
        allow_redirects=False,
        timeout=10,
    )

    assert answer.status_code == code
    assert answer.headers["Location"] == target


def test_the_redirect_endpoint_requires_a_token(hep_sandbox):
    answer = requests.get(
        f"{hep_sandbox.base_url}/redirect?to=/x", allow_redirects=False, timeout=10
    )

    assert answer.status_code == 401


@pytest.mark.parametrize("path", ["/health", "/api/v1/health"])
def test_health_needs_no_token(hep_sandbox, path):
    origin = hep_sandbox.base_url.removesuffix("/api/v1")

    answer = requests.get(origin + path, timeout=10)

    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


def test_connection_close_is_honoured(hep_sandbox):
    answer = requests.get(
        f"{hep_sandbox.base_url}/health", headers={"Connection": "close"}, timeout=10
    )

    assert answer.headers["Connection"] == "close"
