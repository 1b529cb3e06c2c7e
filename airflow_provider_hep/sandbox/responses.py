"""Describe an HTTP answer and serialize it into one byte string."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

JSON = "application/json"


@dataclass
class Response:
    """Hold an answer plus fault flags (``delay`` seconds, ``reset`` mid-body)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = JSON
    delay: float = 0.0
    reset: bool = False

    def to_bytes(self, close: bool) -> bytes:
        """Render the status line, headers and body as a single byte string."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}", "Server: hep-sandbox"]
        if self.content_type and self.body:
            lines.append(f"Content-Type: {self.content_type}")
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        lines.append(f"Content-Length: {len(self.body)}")
        if close:
            lines.append("Connection: close")
        head = "\r\n".join(lines).encode("latin-1")
        return head + b"\r\n\r\n" + self.body


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Build a JSON answer."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, body, list(headers or []))


def odata_error(status: int, code: str, message: str, target: str | None = None) -> Response:
    """Build an OData-style ``{"error": {"code", "message"}}`` answer."""
    error: dict[str, str] = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    return json_response(status, {"error": error})
