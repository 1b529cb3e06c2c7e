"""Measure how many 100-record OData pages per second the HEP sandbox serves over loopback.

The sandbox runs in a subprocess started through its CLI (so client and server do not share a
GIL). A bounded client (THREADS threads, each with its own ``requests.Session``) fetches a fixed
total of pages with one bearer token, following ``@odata.nextLink`` and starting over at the
end of the collection, under a hard time limit.

    python benchmarks/bench_sandbox.py            # ~3000 requests, prints requests/s
    python benchmarks/bench_sandbox.py --smoke    # tiny run, for CI
    python benchmarks/bench_sandbox.py --write    # also update benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "RESULTS.md"
START, END = "<!-- bench_sandbox:start -->", "<!-- bench_sandbox:end -->"


def start_sandbox(records: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start the sandbox CLI and return the process and its JSON info line."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "airflow_provider_hep.sandbox", "--records", str(records)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise SystemExit("sandbox did not start")
    return proc, json.loads(line)


def get_token(info: dict[str, str]) -> str:
    """Fetch one (reusable) access token."""
    answer = requests.post(
        info["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(info["client_id"], info["client_secret"]),
        timeout=10,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def worker(first_url: str, token: str, quota: int, deadline: float, done: list[int]) -> None:
    """Fetch up to ``quota`` pages, following next links, until the deadline."""
    session = requests.Session()
    session.trust_env = False  # loopback: skip the per-request proxy/.netrc environment scan
    session.headers["Authorization"] = f"Bearer {token}"
    url, count = first_url, 0
    while count < quota and time.time() < deadline:
        answer = session.get(url, timeout=10)
        answer.raise_for_status()
        page = answer.json()
        assert 1 <= len(page["value"]) <= 100
        url = page.get("@odata.nextLink") or first_url
        count += 1
    done.append(count)


def client_process(
    first_url: str, token: str, quota: int, threads: int, limit_s: float, barrier: Any, out: Any
) -> None:
    """Run ``threads`` workers in this process after all processes are ready; report counts."""
    done: list[int] = []
    barrier.wait()
    began = time.time()
    pool = [
        threading.Thread(target=worker, args=(first_url, token, quota, began + limit_s, done))
        for _ in range(threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put((sum(done), began, time.time()))


def process_cpu_s(pid: int) -> float | None:
    """Return user+system CPU seconds of a process (Linux /proc), or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run(records: int, total: int, processes: int, threads: int, limit_s: float) -> dict[str, float]:
    """Run the benchmark and return the measured figures."""
    proc, info = start_sandbox(records)
    ctx = multiprocessing.get_context("fork")
    try:
        token = get_token(info)
        first = f"{info['base_url']}/patients?$top=100"
        requests.get(first, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        barrier, out = ctx.Barrier(processes), ctx.Queue()
        quota = max(1, total // (processes * threads))
        args = (first, token, quota, threads, limit_s, barrier, out)
        clients = [ctx.Process(target=client_process, args=args) for _ in range(processes)]
        cpu_before = process_cpu_s(proc.pid)
        for client in clients:
            client.start()
        reports = [out.get(timeout=limit_s + 30) for _ in clients]
        for client in clients:
            client.join(timeout=10)
        cpu_after = process_cpu_s(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    count = sum(r[0] for r in reports)
    elapsed = max(r[2] for r in reports) - min(r[1] for r in reports)
    result = {"requests": count, "seconds": elapsed, "rps": count / elapsed}
    if cpu_before is not None and cpu_after is not None:
        result["server_cpu_us"] = (cpu_after - cpu_before) / count * 1e6
    return result


def cpu_model() -> str:
    """Return the CPU model name, if /proc/cpuinfo tells."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def write_results(result: dict[str, float], records: int, processes: int, threads: int) -> None:
    """Replace the bench_sandbox section of RESULTS.md, keeping everything else."""
    section = "\n".join(
        [
            START,
            "## Sandbox throughput (`benchmarks/bench_sandbox.py`)",
            "",
            f"- **{result['rps']:.0f} requests/s**: {result['requests']:.0f} OData pages of 100"
            f" records in {result['seconds']:.2f} s ({processes} client processes x {threads}"
            f" threads with requests.Session, {records} records,"
            " sandbox in a subprocess, loopback)",
            f"- sandbox CPU per request: {result.get('server_cpu_us', float('nan')):.0f} µs"
            " (the requests-based client needs several times more; on 2 shared cores the"
            " figure above is bounded by the client and by other load on the machine)",
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: nproc={os.cpu_count()}, CPU: {cpu_model()},"
            f" Python {platform.python_version()}, 1-min load average at the end of the run:"
            f" {os.getloadavg()[0]:.2f}",
            END,
        ]
    )
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run the benchmark and print requests/s."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run (a few requests)")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=2, help="client threads per process")
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--time-limit", type=float, default=30.0)
    args = parser.parse_args(argv)
    total, records = (40, 500) if args.smoke else (args.requests, args.records)
    result = run(records, total, args.processes, args.threads, args.time_limit)
    print(
        f"{result['rps']:.0f} requests/s ({result['requests']:.0f} in {result['seconds']:.2f} s;"
        f" sandbox CPU {result.get('server_cpu_us', float('nan')):.0f} µs/request)"
    )
    if args.write:
        write_results(result, records, args.processes, args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
