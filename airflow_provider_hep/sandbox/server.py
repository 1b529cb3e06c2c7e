"""Serve the sandbox app over HTTP/1.1 keep-alive with one ``write`` per answer."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

from .app import SandboxApp
from .responses import Response

log = logging.getLogger("airflow_provider_hep.sandbox")
_MAX_LINE = 65536
_MAX_HEADERS = 100


class SandboxHandler(BaseHTTPRequestHandler):
    """Read a request, ask the app for an answer and write it in a single ``write``."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "hep-sandbox"
    timeout = 120
    server: SandboxServer
    fields: dict[str, str]
    raw_requestline: bytes

    def setup(self) -> None:
        """Wrap the connection in TLS (in this thread) and register it for shutdown."""
        if self.server.ssl_context is not None:
            self.request.settimeout(10)
            self.request = self.server.ssl_context.wrap_socket(self.request, server_side=True)
        super().setup()
        self.server.track(self.request, True)

    def finish(self) -> None:
        """Close the files and forget the connection."""
        try:
            super().finish()
        finally:
            self.server.track(self.request, False)
            if self.server.ssl_context is not None:
                self.request.close()

    def parse_request(self) -> bool:
        """Parse the request line and headers without the slow ``email`` parser."""
        self.command, self.close_connection = "", True
        self.requestline = line = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.request_version = "HTTP/1.0"
            self.send_error(400, f"Bad request line {line!r}")
            return False
        self.command, self.path, self.request_version = parts
        fields = self._read_fields()
        if fields is None:
            return False
        self.fields = fields
        connection = fields.get("connection", "").lower()
        keep = connection == "keep-alive" if parts[2] == "HTTP/1.0" else connection != "close"
        self.close_connection = not keep
        if fields.get("expect", "").lower() == "100-continue" and parts[2] != "HTTP/1.0":
            return self.handle_expect_100()
        return True

    def _read_fields(self) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            raw = self.rfile.readline(_MAX_LINE + 1)
            if len(raw) > _MAX_LINE:
                self.send_error(431, "Header line too long")
                return None
            if raw in (b"\r\n", b"\n", b""):
                return fields
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if not sep or not name.strip():
                self.send_error(400, "Malformed header line")
                return None
            key, value = name.strip().lower(), value.strip()
            fields[key] = f"{fields[key]}, {value}" if key in fields else value
        self.send_error(431, "Too many headers")
        return None

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing per request unless debugging."""
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        fields = self.fields
        if "chunked" in fields.get("transfer-encoding", "").lower():
            self.close_connection = True
            self._send(Response(411, b'{"error":"chunked bodies are not supported"}'))
            return
        length = fields.get("content-length", "0")
        if not length.isdigit():
            self.close_connection = True
            self._send(Response(400, b'{"error":"bad Content-Length"}'))
            return
        body = self.rfile.read(int(length)) if length != "0" else b""
        try:
            response = self.server.app.handle(self.command, self.path, fields, body)
        except Exception:  # a sandbox bug must still answer
            log.exception("sandbox handler failed for %s %s", self.command, self.path)
            response = Response(500, b'{"error":{"code":"SandboxBug","message":"see stderr"}}')
        self._send(response)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def _send(self, response: Response) -> None:
        data = response.to_bytes(self.close_connection or response.reset)
        if response.delay:
            time.sleep(response.delay)
        try:
            if response.reset:
                self._reset(data, len(response.body))
            else:
                self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _reset(self, data: bytes, body_len: int) -> None:
        """Send the headers and half the body, then abort the connection with a RST."""
        self.wfile.write(data[: len(data) - body_len + body_len // 2])
        self.close_connection = True
        self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        self.request.close()


class SandboxServer(ThreadingHTTPServer):
    """Thread-per-connection server that can close its idle keep-alive connections."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], app: SandboxApp, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, SandboxHandler)

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer`` does."""
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def wake(self) -> None:
        """Poke the listening socket so that ``serve_forever`` notices a shutdown at once."""
        host, port = self.server_address[:2]
        target = "127.0.0.1" if host in ("", "0.0.0.0") else str(host)  # noqa: S104
        with contextlib.suppress(OSError), socket.create_connection((target, port), timeout=1):
            pass

    def track(self, sock: socket.socket, opened: bool) -> None:
        """Remember or forget an open connection."""
        with self._open_lock:
            if opened:
                self._open.add(sock)
            else:
                self._open.discard(sock)

    def close_connections(self) -> None:
        """Shut down every open connection so that handler threads end."""
        with self._open_lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log connection errors (TLS handshake failures, resets) at debug level only."""
        log.debug("connection error from %s", client_address, exc_info=True)
