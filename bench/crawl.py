"""Crawl benchmark: `kaplit crawl` against the stand-in E-utilities server on 127.0.0.1.

    python bench/crawl.py [--records 40000] [--fault-rate 0]

Prints the requests made per 10,000 records (target: <= 30) and the crawl's wall time against
the rate-limit bound for the same number of requests (requests / 3 per second: no polite crawl
of that many requests can be faster), plus the busiest 1-second window the server saw.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STANDIN = Path(__file__).resolve().parents[1] / "testing" / "standin.py"

RATE_LIMIT = 3.0  # requests per second without an API key


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=40_000)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="kaplit-crawl-bench-"))
    log = scratch / "requests.jsonl"
    server = subprocess.Popen([sys.executable, str(STANDIN), "--port", "0", "--records",
                               str(args.records), "--fault-rate", str(args.fault_rate), "--log", str(log)],
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[0]
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kaplit", "crawl", "--db", str(scratch / "crawl.db"),
                        "--eutils-url", url], check=True)
        wall = time.perf_counter() - started
    finally:
        server.terminate()
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    times = sorted(r["t"] for r in requests)
    busiest = max(sum(1 for u in times[i:i + 20] if u < t + 1) for i, t in enumerate(times))
    bound = (len(requests) - 1) / RATE_LIMIT
    print(f"records: {args.records}, requests: {len(requests)} "
          f"({len(requests) / (args.records / 10_000):.1f} per 10,000 records; target <= 30)")
    print(f"wall time: {wall:.1f} s; rate-limit bound for {len(requests)} requests: {bound:.1f} s; "
          f"ratio {wall / bound:.2f}")
    print(f"busiest 1-second window: {busiest} requests (limit 3)")


if __name__ == "__main__":
    main()
