"""Update benchmark: 1,000 new and 200 revised records onto a served 100,000-record release.

    python bench/update.py [--records 100000] [--new 1000] [--revised 200] [--scratch DIR]

Starts the stand-in E-utilities (testing/standin.py) with the real records of ../shared
replicated to --records, makes the first release with `kaplit update` (a full crawl; reused
from --scratch when it holds one of that size) and serves it with `kaplit serve`. Then, with 4
clients loading the site (landing, evidence-map cells, search, article pages), measures the
page p95 before; asks the stand-in for --new records and --revised revisions; runs
`kaplit update` and measures the p95 while it runs and the server switches. Prints the update's
wall time, its requests, how the time splits between copy, crawl (with ingest), retag (with the
summaries and bitmaps), check and switch, and the share of copy + switch (target <= 20 %), and
the p95 through the switch over the p95 before (target <= 3).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.web import percentile, request_plan, run_load, serve  # noqa: E402
from kaplit.db.releases import Releases  # noqa: E402
from testing.standin import StandIn  # noqa: E402

STAGE = re.compile(r"(copy|crawl|ingest|retag|check|switch) ([\d.]+) s")


def first_release(pointer: Path, standin: StandIn, records: int):
    """The first release, made by a full crawl of this run's stand-in, or reused if the scratch
    folder holds one of the same size. One of another size is crawled anew: updated instead, it
    would be compared with a stand-in it was not crawled from (its records' dates differ)."""
    if pointer.exists():
        with sqlite3.connect(pointer) as conn:
            if conn.execute("select count(*) from studies").fetchone()[0] == records:
                print(f"reusing {pointer} ({records:,} records)")
                return
    if pointer.is_symlink() or pointer.exists():
        shutil.rmtree(Releases(pointer).folder, ignore_errors=True)
        pointer.unlink()
    started = time.perf_counter()
    run_update(pointer, standin)
    print(f"first release (full crawl of {records:,} records): {time.perf_counter() - started:.0f} s")


def run_update(pointer: Path, standin: StandIn) -> str:
    result = subprocess.run([sys.executable, "-m", "kaplit", "update", "--db", str(pointer), "--eutils-url",
                             standin.url], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"kaplit update failed:\n{result.stderr}")
    return result.stdout


def load_until(port: int, plan, stop: threading.Event) -> list[tuple[float, float]]:
    """(start time, seconds) of every request of the plan, repeated until `stop`."""
    timed = []
    while not stop.is_set():
        started = time.perf_counter()
        timings = run_load(port, plan, 4)
        timed += [(started, seconds) for values in timings.values() for seconds in values]
    return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1000)
    parser.add_argument("--revised", type=int, default=200)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "kaplit-bench-update")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    standin = StandIn(args.scratch, "--records", str(args.records))
    pointer = args.scratch / "kaplit.db"
    server = None
    try:
        first_release(pointer, standin, args.records)
        plan = [p for p in request_plan(pointer.resolve(), 200) if p[0] not in ("cold", "versions")]
        server, port, _ = serve(pointer)
        run_load(port, plan, 4)  # OS page cache
        before = [s for values in run_load(port, plan, 4).values() for s in values]
        standin.grow(args.new, args.revised)
        standin.reset_log()
        stop = threading.Event()
        during: list = []
        loader = threading.Thread(target=lambda: during.extend(load_until(port, plan, stop)))
        loader.start()
        started = time.perf_counter()
        output = run_update(pointer, standin)
        wall = time.perf_counter() - started
        time.sleep(3)  # the server notices the switch within a second
        stop.set()
        loader.join()
    finally:
        if server:
            server.terminate()
            server.wait(10)
        standin.stop()
    stages = {name: float(seconds) for name, seconds in STAGE.findall(output)}
    requests = len(standin.requests())
    print(output.strip().splitlines()[-1])
    print(f"\nupdate of {args.new:,} new and {args.revised:,} revised records onto {args.records:,}: "
          f"{wall:.1f} s wall, {requests} requests")
    for name, seconds in stages.items():
        print(f"  {name:<7}{seconds:>8.1f} s  {100 * seconds / wall:5.1f} %")
    overhead = stages.get("copy", 0) + stages.get("switch", 0)
    print(f"copy + switch: {overhead:.1f} s = {100 * overhead / wall:.1f} % of the update (target <= 20 %)")
    through = [s for t, s in during]
    ratio = percentile(through, 95) / percentile(before, 95)
    print(f"page p95 before {percentile(before, 95) * 1000:.0f} ms, through the update and switch "
          f"{percentile(through, 95) * 1000:.0f} ms ({len(through)} requests): {ratio:.2f}x (target <= 3)")


if __name__ == "__main__":
    main()
