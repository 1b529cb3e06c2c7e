"""``python -m airflow_provider_hep.sandbox`` prints one JSON line and stops cleanly on signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from airflow_provider_hep.sandbox.cli import build_parser, main

REPO = Path(__file__).resolve().parents[2]


def start_cli(*args):
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_hep.sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_cli_prints_one_json_line_serves_and_exits_0_on_a_signal(sig):
    proc, line = start_cli("--records", "50", "--client-secret", "cli-secret-1")
    try:
        info = json.loads(line)
        health = requests.get(info["base_url"].removesuffix("/api/v1") + "/health", timeout=10)
        token = requests.post(
            info["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(info["client_id"], info["client_secret"]),
            timeout=10,
        )
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)

    assert set(info) == {"base_url", "token_url", "client_id", "client_secret"}
    assert info["client_id"] == "hep-sandbox-client"
    assert info["client_secret"] == "cli-secret-1"
    assert health.json() == {"status": "ok"}
    assert token.status_code == 200
    assert proc.returncode == 0
    assert out == ""
    assert token.json()["access_token"] not in err


def test_the_cli_with_tls_reports_the_ca_bundle():
    proc, line = start_cli("--tls", "--records", "10")
    try:
        info = json.loads(line)
        health = requests.get(
            info["base_url"].removesuffix("/api/v1") + "/health",
            verify=info["ca_bundle"],
            timeout=10,
        )
    finally:
        proc.terminate()
        proc.communicate(timeout=15)

    assert info["base_url"].startswith("https://")
    assert health.ok
    assert proc.returncode == 0


def test_the_cli_rejects_a_bad_fault_spec_with_exit_code_2(capsys):
    assert main(["--faults", "teapot"]) == 2
    assert "unknown fault" in capsys.readouterr().err


def test_the_parser_knows_every_documented_option():
    args = build_parser().parse_args(
        [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--records",
            "5",
            "--latency-ms",
            "1",
            "--single-use-tokens",
            "--token-ttl",
            "9",
            "--client-id",
            "a",
            "--client-secret",
            "bbbbb",
            "--seed",
            "3",
            "--faults",
            "500",
            "--tls",
            "--page-size",
            "7",
            "--start",
            "2026-01-01T00:00:00Z",
            "--end",
            "2026-01-03T00:00:00Z",
        ]
    )

    assert (args.records, args.single_use_tokens, args.tls, args.page_size) == (5, True, True, 7)
