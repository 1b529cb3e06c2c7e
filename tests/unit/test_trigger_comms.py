"""HepTrigger and HepAsyncHook never block on the supervisor from the event loop (Airflow 3.3+).

These tests put the triggerer's real comms objects (the task runner's
``CommsDecoder`` and the triggerer's ``TriggerCommsDecoder``) on a socket pair, with a small
thread answering their frames. A synchronous supervisor call from the event loop then fails
loudly (``DeadlockImminentError``, apache/airflow#71891), as it can in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time

import airflow.sdk.log as sdk_log
import msgspec
import pytest
from airflow.sdk.definitions.connection import Connection
from airflow.sdk.execution_time import task_runner
from airflow.sdk.execution_time.comms import (
    CommsDecoder,
    DeadlockImminentError,
    MaskSecret,
    _ResponseFrame,
)
from hep_testing import events_of, export_job

from airflow_provider_hep.auth import basic_credentials
from airflow_provider_hep.hooks.hep import config_from_connection, register_masks
from airflow_provider_hep.triggers.hep import (
    HepTrigger,
)

HOLD = "hold-the-supervisor-lock"
EXPORT_DONE = {"path": "status", "equals": "done", "fail_on": ["failed"]}


# -- the triggerer's supervisor comms ---------------------------------------------------------


class FakeSupervisor:
    """Answer comms frames on a socket like the supervisor; hold the HOLD request a while."""

    def __init__(self, sock: socket.socket, hold_seconds: float) -> None:
        self.sock = sock
        self.hold_seconds = hold_seconds
        self.seen: list[str] = []
        self.masked: list[object] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                length = int.from_bytes(self._read(4), "big")
                request_id, body, *_ = msgspec.msgpack.decode(self._read(length))
                self.seen.append(body.get("type"))
                if body.get("type") == "MaskSecret":
                    self.masked.append(body.get("value"))
                if body.get("value") == HOLD:
                    time.sleep(self.hold_seconds)
                self.sock.sendall(_ResponseFrame(id=request_id).as_bytes())


@contextlib.asynccontextmanager
async def supervisor(kind, monkeypatch):
    """Install real comms on a socket pair with a request in flight, as in a busy triggerer."""
    ours, theirs = socket.socketpair()
    peer = FakeSupervisor(theirs, hold_seconds=0.5)
    reader_task = None
    if kind == "task_runner":
        comms = CommsDecoder(socket=ours)
    else:
        from airflow.jobs.triggerer_job_runner import TriggerCommsDecoder

        reader, writer = await asyncio.open_connection(sock=ours)
        comms = TriggerCommsDecoder(socket=ours, async_writer=writer, async_reader=reader)
        await comms.start_reader()
        reader_task = comms._reader_task
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    in_flight = asyncio.create_task(comms.asend(MaskSecret(value=HOLD)))
    await asyncio.sleep(0.1)  # the request now holds the comms lock
    try:
        yield peer
    finally:
        await in_flight
        if reader_task is not None:
            reader_task.cancel()
        ours.close()
        theirs.close()


@pytest.mark.parametrize("kind", ["task_runner", "triggerer"])
def test_run_never_calls_the_supervisor_synchronously_from_the_event_loop(
    kind, sandbox, masking, monkeypatch
):
    sb = sandbox(client_secret=f"comms-secret-{kind}-{masking}")
    job = export_job(sb, ready_after=1)
    trigger = HepTrigger(
        endpoint=f"exports/{job}", poll=True, check=EXPORT_DONE, poke_interval=0.01
    )

    async def in_a_busy_triggerer():
        async with supervisor(kind, monkeypatch) as peer:
            events = await events_of(trigger)
        return events, peer.masked

    events, masked = asyncio.run(in_a_busy_triggerer())
    assert events == [{"status": "success", "value": "done", "polls": 2}]
    # The supervisor (which redacts the triggerer's logs) heard of both secret forms.
    assert sb.client_secret in masked
    assert basic_credentials(sb.client_id, sb.client_secret) in masked
    assert sdk_log.redact(f"x {sb.client_secret} y") == "x *** y"


def harness_config(sb, secret):
    conn = Connection(
        conn_id="x",
        conn_type="sap_hep",
        host=sb.base_url,
        login=sb.client_id,
        password=secret,
        extra=json.dumps({"auth_url": sb.token_url}),
    )
    return config_from_connection(conn, extra={"auth_url": sb.token_url})


def test_the_harness_catches_a_sync_mask_on_the_loop_of_an_async_task(sandbox, monkeypatch):
    config = harness_config(sandbox(), "harness-secret-0a1")

    async def mask_synchronously_on_the_loop():
        async with supervisor("task_runner", monkeypatch):
            register_masks(config)  # what the sync hook does; wrong on an event loop

    with pytest.raises(DeadlockImminentError):
        asyncio.run(mask_synchronously_on_the_loop())


def test_the_harness_shows_a_sync_mask_on_the_triggerer_loop_never_reaches_the_supervisor(
    sandbox, monkeypatch
):
    config = harness_config(sandbox(), "harness-secret-0b2")

    async def mask_synchronously_on_the_loop():
        async with supervisor("triggerer", monkeypatch) as peer:
            register_masks(config)  # mask_secret swallows the comms error
        return peer.masked

    masked = asyncio.run(mask_synchronously_on_the_loop())
    assert masked == [HOLD]
