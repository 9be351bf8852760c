"""Web benchmark: the served site under a bounded loopback load at 100,000 records.

    python bench/web.py [--records 100000] [--requests 1500] [--clients 4] [--scratch DIR]

Builds (once; reused from --scratch) a database of the real snapshot records replicated with
fresh PMIDs and publication years spread over 1960-2026, ingested and tagged by `kaplit`, serves
it with `kaplit serve` on 127.0.0.1, then sends a fixed, seeded list of requests from a few
concurrent keep-alive clients: landing page, facet pages (evidence-map cells of the studies
table), ranked full-text search, article pages, and `/-/versions.json` as the baseline, all
interleaved, every page rendered anew (kaplit keeps no response cache).
Prints p50/p95 per page type and each p95 divided by the p95 of /-/versions.json measured in
the same run. Targets: every ratio <= 3, and <= 5 for `cold`: 80 distinct filter combinations
(condition x year, design x route, substance x detail) that no cache can have seen.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import write_corpus  # noqa: E402
from kaplit.web.landing import cell_query  # noqa: E402

SEARCH_TERMS = ["ketamine", "esketamine depression", "psilocybin", '"treatment-resistant"', "suicidal ideation",
                "MDMA PTSD", "anxiety", "alcohol", "pain", "intranasal", "placebo", "LSD", "ayahuasca",
                "psychotherapy", "adolescents", "cognitive", "anesthesia", "opioid", "bipolar", "dementia"]
WEIGHTS = {"versions": 0.2, "landing": 0.15, "facet": 0.25, "search": 0.2, "article": 0.2}
COLD_FILTERS = 80  # distinct filter combinations, each asked once: no cache can have seen them
TARGETS = {"cold": 5.0}  # p95 / versions p95; 3 for the other page types


def build(scratch: Path, records: int) -> Path:
    db = scratch / "kaplit.db"
    if db.exists():
        with sqlite3.connect(db) as conn:
            if conn.execute("select count(*) from studies").fetchone()[0] == records:
                print(f"reusing {db} ({records:,} records)")
                return db
        db.unlink()
    corpus = write_corpus(scratch / f"web-{records}.xml.gz", records, folders=("snapshot",), years=(1960, 2026))
    for command in (["ingest", str(corpus)], ["retag"]):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "kaplit", *command, "--db", str(db)], check=True,
                       stdout=subprocess.DEVNULL)
        print(f"kaplit {command[0]}: {time.perf_counter() - started:.0f} s")
    return db


def request_plan(db: Path, total: int, seed: int = 11) -> list[tuple[str, str]]:
    """(page type, path) pairs, shuffled with a fixed seed."""
    rng = random.Random(seed)
    with sqlite3.connect(db) as conn:
        cells = conn.execute(
            "select condition, design from evidence_map where studies > 0 and scope = 'all'").fetchall()
        pmids = [r[0] for r in conn.execute("select pmid from articles")]
    cold = iter(cold_filters(db, rng))
    makers = {
        "cold": lambda: next(cold),
        "versions": lambda: "/-/versions.json",
        "landing": lambda: "/",
        "facet": lambda: facet_path(*rng.choice(cells)),
        "search": lambda: "/kaplit/search?" + urllib.parse.urlencode({"q": rng.choice(SEARCH_TERMS)}),
        "article": lambda: f"/article/{rng.choice(pmids)}",
    }
    kinds = [kind for kind, weight in WEIGHTS.items() for _ in range(round(weight * total))]
    kinds += ["cold"] * COLD_FILTERS
    rng.shuffle(kinds)
    return [(kind, makers[kind]()) for kind in kinds]


def cold_filters(db: Path, rng) -> list[str]:
    """COLD_FILTERS distinct studies pages: condition x year, design x route, substance x detail."""
    with sqlite3.connect(db) as conn:
        labels = {facet: [r[0] for r in conn.execute(
            "select label from study_labels where facet = ? group by label having count(*) >= 20", [facet])]
            for facet in ("conditions", "routes", "substances", "details")}
        designs = [r[0] for r in conn.execute("select distinct design from studies where design is not null")]
    combos = {("conditions__arraycontains", c, "year__gte", str(y))
              for c in labels["conditions"] for y in range(1970, 2026)}
    combos |= {("design", d, "routes__arraycontains", r) for d in designs for r in labels["routes"]}
    combos |= {("substances__arraycontains", s, "details__arraycontains", d)
               for s in labels["substances"] for d in labels["details"]}
    chosen = rng.sample(sorted(combos), COLD_FILTERS)
    return ["/kaplit/studies?" + urllib.parse.urlencode([(k1, v1), (k2, v2)]) for k1, v1, k2, v2 in chosen]


def facet_path(condition: str, design: str) -> str:
    """An evidence-map cell's list, as the landing page links it."""
    return "/kaplit/studies?" + cell_query(condition, design, "all", True)


def run_load(port: int, plan, clients: int) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {kind: [] for kind in [*WEIGHTS, "cold"]}
    failures = []
    lock = threading.Lock()

    def client(share):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for kind, path in share:
            started = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - started
            with lock:
                timings[kind].append(elapsed)
                if response.status != 200:
                    failures.append((response.status, path))
        conn.close()

    threads = [threading.Thread(target=client, args=(plan[i::clients],)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[:3]}")
    return timings


def percentile(values, q):
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def get_json(port: int, path: str) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    return json.loads(conn.getresponse().read())


def serve(db: Path) -> tuple[subprocess.Popen, int, float]:
    """A `kaplit serve` of the database on a free port, and the seconds from its start until it
    answered its readiness check (/-/kaplit.json: start-up done, bitmaps in memory)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "kaplit", "serve", "--db", str(db), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.perf_counter() - started < 120:
        try:
            if get_json(port, "/-/kaplit.json")["ready"]:
                return server, port, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("kaplit serve did not start")


def first_pages(port: int, plan) -> dict[str, float]:
    """Seconds for the first page of each type a fresh server is asked for."""
    firsts = {}
    for kind, path in plan:
        if kind not in firsts:
            firsts[kind] = run_load(port, [(kind, path)], 1)[kind][0]
    return firsts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "kaplit-bench-web")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    db = build(args.scratch, args.records)
    plan = request_plan(db, args.requests)
    server, port, ready = serve(db)
    try:
        firsts = first_pages(port, plan)
        run_load(port, [p for p in plan[: len(plan) // 10] if p[0] != "cold"], args.clients)  # OS page cache
        started = time.perf_counter()
        timings = run_load(port, plan, args.clients)
        wall = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    baseline = percentile(timings["versions"], 95)
    print(f"\nready {ready:.1f} s after start; first page of each type (ms): "
          + ", ".join(f"{kind} {seconds * 1000:.0f}" for kind, seconds in firsts.items()))
    print(f"{len(plan)} requests from {args.clients} clients in {wall:.1f} s on {args.records:,} records")
    print(f"{'page':<10}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'p95 / versions p95':>22}")
    missed = []
    for kind, values in timings.items():
        p50, p95 = percentile(values, 50) * 1000, percentile(values, 95) * 1000
        ratio, target = p95 / (baseline * 1000), TARGETS.get(kind, 3.0)
        if kind != "versions" and ratio > target:
            missed.append(kind)
        print(f"{kind:<10}{len(values):>6}{p50:>10.1f}{p95:>10.1f}{ratio:>22.2f}  (target <= {target:g})")
    print(f"\ntargets {'met' if not missed else 'NOT met for ' + ', '.join(missed)}")


if __name__ == "__main__":
    main()
