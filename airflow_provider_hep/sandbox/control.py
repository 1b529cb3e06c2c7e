"""Answer the unauthenticated ``/_sandbox/*`` control endpoints used by other processes."""

from __future__ import annotations

import json
from typing import Any

from .responses import Response, json_response, odata_error
from .state import SandboxState


def _body(body: bytes) -> dict[str, Any]:
    payload: Any = json.loads(body or b"{}")
    if not isinstance(payload, dict):
        raise ValueError("body must be a JSON object")
    return payload


def control(
    state: SandboxState, method: str, path: str, params: dict[str, str], body: bytes
) -> Response:
    """Dispatch ``GET /_sandbox/stats``, ``POST reset|faults|clock``, ``GET truth/<collection>``."""
    action = path.removeprefix("/_sandbox/")
    try:
        if method == "GET" and action == "stats":
            return json_response(200, state.stats.snapshot())
        if method == "POST" and action == "reset":
            state.stats.reset()
            return json_response(200, {"status": "reset"})
        if method == "POST" and action == "faults":
            state.faults.set(_body(body).get("spec") or None)
            return json_response(200, {"faults": state.faults.describe()})
        if method == "POST" and action == "clock":
            offset = state.advance_clock(float(_body(body).get("advance", 0)))
            return json_response(200, {"offset": offset, "now": state.now_iso()})
        if method == "GET" and action.startswith("truth/"):
            name = action.removeprefix("truth/")
            truth = state.truth(
                name, params.get("start"), params.get("end"), params.get("field") or "lastModified"
            )
            return json_response(200, truth)
    except KeyError as exc:
        return odata_error(404, "NotFound", str(exc.args[0]))
    except (ValueError, TypeError) as exc:
        return odata_error(400, "BadRequest", str(exc))
    return odata_error(404, "NotFound", f"no control endpoint {method} {path}")
