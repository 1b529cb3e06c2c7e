"""Run the sandbox server in a background thread behind a small Python API."""

from __future__ import annotations

import json
import threading
from typing import Any

from .app import SandboxApp
from .faults import Fault
from .server import SandboxServer
from .state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_END,
    DEFAULT_START,
    FaultSpec,
    SandboxConfig,
    SandboxState,
    TimeLike,
)
from .tls import TlsMaterial
from .tokens import DEFAULT_SCOPES


class HepSandbox:
    """Emulate the HEP token endpoint and paged REST API on loopback.

    Use as a context manager (``with HepSandbox() as sb:``) or call :meth:`start` and
    :meth:`stop`. See the package docstring for endpoints, paging styles and fault specs.
    """

    def __init__(
        self,
        records: int = 1000,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0,
        single_use_tokens: bool = False,
        token_ttl: int = 299,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        seed: int = 0,
        faults: FaultSpec = None,
        tls: bool = False,
        page_size: int = 100,
        start: TimeLike = DEFAULT_START,
        end: TimeLike = DEFAULT_END,
        scopes: tuple[str, ...] | str = DEFAULT_SCOPES,
    ) -> None:
        self.config = SandboxConfig(
            records=records,
            host=host,
            port=port,
            latency_ms=latency_ms,
            single_use_tokens=single_use_tokens,
            token_ttl=token_ttl,
            client_id=client_id,
            client_secret=client_secret,
            seed=seed,
            faults=faults,
            tls=tls,
            page_size=page_size,
            start=start,
            end=end,
            scopes=scopes,  # type: ignore[arg-type]
        )
        self.state = SandboxState(self.config)
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self._tls: TlsMaterial | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> HepSandbox:
        """Bind the port and serve in a daemon thread; return self."""
        if self._server is not None:
            return self
        context = None
        if self.config.tls:
            from .tls import create_tls

            self._tls = create_tls()
            context = self._tls.context
        server = SandboxServer(
            (self.config.host, self.config.port), SandboxApp(self.state), context
        )
        self._server = server
        self.state.set_origin("https" if context else "http", self.config.host, server.server_port)
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="hep-sandbox",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close connections and delete TLS files."""
        server, self._server = self._server, None
        if server is not None:
            stopper = threading.Thread(target=server.shutdown, daemon=True)
            stopper.start()
            while stopper.is_alive():
                server.wake()
                stopper.join(0.05)
            server.server_close()
            server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tls is not None:
            self._tls.cleanup()
            self._tls = None

    def __enter__(self) -> HepSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- addresses and credentials ------------------------------------------------------------
    @property
    def port(self) -> int:
        """Return the bound port (0 before :meth:`start`)."""
        return self._server.server_port if self._server is not None else 0

    @property
    def base_url(self) -> str:
        """Return the API root, e.g. ``http://127.0.0.1:PORT/api/v1``."""
        return self.state.base_url

    @property
    def token_url(self) -> str:
        """Return the token endpoint URL."""
        return f"{self.state.origin}/oauth/token"

    @property
    def client_id(self) -> str:
        """Return the accepted client id."""
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        """Return the accepted client secret."""
        return self.config.client_secret

    @property
    def ca_bundle(self) -> str | None:
        """Return the CA PEM path when serving TLS, else None."""
        return self._tls.ca_bundle if self._tls is not None else None

    def conn_json(self, **extra_overrides: Any) -> str:
        """Return an Airflow connection JSON (``AIRFLOW_CONN_...`` value) for this sandbox."""
        extra: dict[str, Any] = {"auth_url": self.token_url}
        if self.ca_bundle is not None:
            extra["ca_bundle"] = self.ca_bundle
        extra.update(extra_overrides)
        conn = {
            "conn_type": "sap_hep",
            "host": self.base_url,
            "login": self.client_id,
            "password": self.client_secret,
            "extra": extra,
        }
        return json.dumps(conn)

    # -- observation and control ---------------------------------------------------------------
    @property
    def stats(self) -> dict[str, Any]:
        """Return a snapshot of the counters."""
        return self.state.stats.snapshot()

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.state.stats.reset()

    def set_faults(self, spec: str | Fault | list[Fault | str] | None) -> None:
        """Replace the fault plan (a spec string or Fault objects)."""
        self.state.faults.set(spec)

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.state.faults.set(None)

    def advance_clock(self, seconds: float) -> None:
        """Move the sandbox clock (token expiry, modification time) by ``seconds``."""
        self.state.advance_clock(seconds)

    def truth(
        self,
        collection: str,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        field: str = "lastModified",
    ) -> dict[str, list[str]]:
        """Return ``current``/``original``/``unmodified``/``modified`` id lists for a window."""
        return self.state.truth(collection, start, end, field)

    def records(self, collection: str) -> list[dict[str, Any]]:
        """Return copies of the current records of ``collection`` in id order."""
        return self.state.records(collection)
