"""Run the provider arm once in this process and print its peak RSS (run by bench_sync.py).

The parent starts the sandbox and passes the connection in ``AIRFLOW_CONN_SAP_HEP_DEFAULT``;
this process syncs the whole window with ``HepHook.paginate`` into PartWriter parts and prints
one JSON line: records, seconds, the RSS after setup, and the peak RSS during the sync (KiB).

Imports and setup can peak higher than the sync itself, so the high-water mark is reset after
setup (``/proc/self/clear_refs``, Linux 4.0+) and read back as ``VmHWM``. Not ``ru_maxrss``:
it also keeps the peak of the forked parent's pages before ``exec``, which is the benchmark
process's own size (about 160 MiB after the throughput runs), whatever this process does.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sync_arms import Target, prepare_provider
from sync_setup import WINDOW


def status_kb(field: str) -> int:
    """Return a memory field of /proc/self/status (VmRSS: now, VmHWM: peak), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> int:
    """Sync once; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--info", required=True, help="the sandbox's JSON info line")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    info = json.loads(args.info)
    with tempfile.TemporaryDirectory(prefix="hep-bench-rss-") as out:
        target = Target(
            info["base_url"], info["token_url"], info["client_id"], info["client_secret"],
            WINDOW, Path(out),
        )  # fmt: skip
        run = prepare_provider(target, args.concurrency)
        gc.collect()
        setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        setup = status_kb("VmRSS")
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        began = time.perf_counter()
        records = run()
        seconds = time.perf_counter() - began
        after = status_kb("VmHWM")
    figures = {"records": records, "seconds": seconds, "setup_kb": setup, "peak_kb": after}
    print(json.dumps({**figures, "setup_peak_kb": setup_peak}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
