"""Answer the write side of the API: ``messages`` CRUD, async ``exports`` and idempotency keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .data import Collection
from .responses import Response, json_response, odata_error
from .state import GENERATED, SandboxState

_MESSAGE_FIELDS = ("patientId", "text")


def _json_body(body: bytes) -> dict[str, Any] | Response:
    try:
        payload = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        return odata_error(400, "ValidationError", "body is not valid JSON")
    if not isinstance(payload, dict):
        return odata_error(400, "ValidationError", "body must be a JSON object")
    return payload


def _validate_message(payload: dict[str, Any], partial: bool) -> Response | None:
    for key in payload:
        if key not in _MESSAGE_FIELDS:
            return odata_error(400, "ValidationError", f"unknown field {key!r}", key)
    for key in _MESSAGE_FIELDS:
        if key not in payload:
            if partial:
                continue
            return odata_error(400, "ValidationError", f"{key} is required", key)
        value = payload[key]
        if not isinstance(value, str) or not value.strip():
            return odata_error(400, "ValidationError", f"{key} must be a non-empty string", key)
    return None


def _apply_message(state: SandboxState, method: str, rid: str | None, body: bytes) -> Response:
    coll: Collection = state.collection("messages")  # type: ignore[assignment]
    idx = None if rid is None else coll.idx_of(rid)
    if rid is not None and idx is None:
        return odata_error(404, "NotFound", f"no messages record with id {rid!r}")
    if method == "DELETE" and idx is not None:
        coll.delete(idx)
        state.stats.bump("writes_applied")
        return Response(204, b"", content_type=None)
    payload = _json_body(body)
    if isinstance(payload, Response):
        return payload
    error = _validate_message(payload, partial=method == "PATCH")
    if error is not None:
        return error
    now = int(state.now())
    if method == "POST":
        idx = coll.append(payload, now)
        status = 201
    else:
        assert idx is not None
        coll.replace(idx, {**coll.record(idx), **payload}, now)
        status = 200
    state.stats.bump("writes_applied")
    headers = (
        [("Location", f"{state.base_url}/messages/{coll.id_of(idx)}")] if status == 201 else []
    )
    return Response(status, coll.blobs[idx] or b"{}", headers)


def write_message(
    state: SandboxState, method: str, rid: str | None, body: bytes, key: str | None
) -> Response:
    """Apply POST/PATCH/DELETE on ``messages``, replaying answers for a repeated Idempotency-Key."""
    with state.lock:
        return _idempotent(
            state, key, f"{method} {rid}", lambda: _apply_message(state, method, rid, body)
        )


def _idempotent(
    state: SandboxState, key: str | None, scope: str, apply: Callable[[], Response]
) -> Response:
    """Apply once per Idempotency-Key; replay a copy of the first answer for repeats."""
    if key is None:
        return apply()
    seen = state.idempotency.get(key)
    if seen is not None:
        if seen[0] != scope:
            return odata_error(422, "IdempotencyKeyReused", f"key {key!r} was used for {seen[0]}")
        status, body, headers, content_type = seen[1]
        replayed = [*headers, ("Idempotent-Replayed", "true")]
        return Response(status, body, replayed, content_type=content_type)
    response = apply()
    if response.status < 500:
        first = (response.status, response.body, list(response.headers), response.content_type)
        state.idempotency[key] = (scope, first)
    return response


def create_export(state: SandboxState, body: bytes, key: str | None) -> Response:
    """Start an async export job (``POST /api/v1/exports``)."""
    with state.lock:
        return _idempotent(state, key, "POST exports", lambda: _new_export(state, body))


def _new_export(state: SandboxState, body: bytes) -> Response:
    payload = _json_body(body)
    if isinstance(payload, Response):
        return payload
    collection = payload.get("collection")
    if collection not in GENERATED:
        return odata_error(
            400,
            "ValidationError",
            f"collection must be one of {', '.join(GENERATED)}",
            "collection",
        )
    ready_after = payload.get("ready_after", 2)
    if not isinstance(ready_after, int) or isinstance(ready_after, bool) or ready_after < 0:
        return odata_error(
            400, "ValidationError", "ready_after must be an integer >= 0", "ready_after"
        )
    job_id = f"EXP-{len(state.exports) + 1:07d}"
    state.exports[job_id] = {"collection": collection, "ready_after": ready_after, "polls": 0}
    state.stats.bump("writes_applied")
    headers = [("Location", f"{state.base_url}/exports/{job_id}")]
    return json_response(202, {"id": job_id, "status": "running"}, headers)


def poll_export(state: SandboxState, job_id: str) -> Response:
    """Answer ``GET /api/v1/exports/<id>``: ``running`` for ``ready_after`` polls, then done."""
    with state.lock:
        job = state.exports.get(job_id)
        if job is None:
            return odata_error(404, "NotFound", f"no export job {job_id!r}")
        job["polls"] += 1
        if job["polls"] <= job["ready_after"]:
            return json_response(200, {"id": job_id, "status": "running"})
        coll = state.collection(job["collection"])
        records = 0 if coll is None else len(coll.keys)
    return json_response(200, {"id": job_id, "status": "done", "records": records})
