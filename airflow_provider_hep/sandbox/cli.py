"""Run the sandbox from the command line (``python -m airflow_provider_hep.sandbox``).

Prints exactly one JSON line (``base_url``, ``token_url``, ``client_id``, ``client_secret`` and,
with ``--tls``, ``ca_bundle``) to stdout, then serves until SIGINT or SIGTERM and exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .sandbox import HepSandbox
from .state import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_END, DEFAULT_START


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser."""
    p = argparse.ArgumentParser(prog="hep-sandbox", description="Local HEP API emulator for tests.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--records", type=int, default=1000)
    p.add_argument("--latency-ms", type=float, default=0)
    p.add_argument("--single-use-tokens", action="store_true")
    p.add_argument("--token-ttl", type=int, default=299)
    p.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    p.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--faults", default=None, help="fault spec, e.g. 429:every=3:retry_after=1")
    p.add_argument("--tls", action="store_true")
    p.add_argument("--page-size", type=int, default=100)
    p.add_argument("--start", default=DEFAULT_START)
    p.add_argument("--end", default=DEFAULT_END)
    p.add_argument("--scopes", default=None, help="space-separated allowed scopes")
    p.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    return p


def _sandbox(args: argparse.Namespace) -> HepSandbox:
    extra: dict[str, Any] = {} if args.scopes is None else {"scopes": args.scopes}
    return HepSandbox(
        args.records,
        host=args.host,
        port=args.port,
        latency_ms=args.latency_ms,
        single_use_tokens=args.single_use_tokens,
        token_ttl=args.token_ttl,
        client_id=args.client_id,
        client_secret=args.client_secret,
        seed=args.seed,
        faults=args.faults,
        tls=args.tls,
        page_size=args.page_size,
        start=args.start,
        end=args.end,
        **extra,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Start the sandbox, print its JSON line and serve until SIGINT/SIGTERM; return 0."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, stream=sys.stderr)
    try:
        sandbox = _sandbox(args)
    except ValueError as exc:
        print(f"hep-sandbox: {exc}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with sandbox:
            info = {
                "base_url": sandbox.base_url,
                "token_url": sandbox.token_url,
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
            }
            if sandbox.ca_bundle is not None:
                info["ca_bundle"] = sandbox.ca_bundle
            sys.stdout.write(json.dumps(info) + "\n")
            sys.stdout.flush()
            while not stopping.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
