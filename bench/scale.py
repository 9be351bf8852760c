"""Scale benchmark: build 100,000- and 1,000,000-record databases and compare them.

    python bench/scale.py [--sizes 100000 1000000] [--scratch DIR] [--reuse]

For each size: writes the real records of ../shared (snapshot and efetch) replicated with fresh
PMIDs and publication years spread over 1960-2026, as baseline-like files of 50,000 records;
runs `kaplit ingest --no-tag` (both cores) and `kaplit retag` in their own processes (wall time,
peak RSS); then measures the database size per record, the raw SQL p95 of full-text searches and
facet counts, and the served site's p95 for search and facet pages (bench/web.py's load, after
the server has primed its cache). Prints one table; the targets are ingest records/s at 1M within
20 % of 100k, flat RSS, and the served site's facet and search p95 at 1M within 2x of 100k (the
raw SQL p95s are printed beside them: a facet count over every study grows with the data, which
is why the site primes its cache with the landing page's links).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import FIRST_PMID, write_corpus  # noqa: E402
from bench.web import SEARCH_TERMS, facet_path, percentile, run_load, serve, wait_until_primed  # noqa: E402
from kaplit.web.app import load_metadata  # noqa: E402

PER_FILE = 50_000
SEARCH_SQL = load_metadata()["databases"]["kaplit"]["queries"]["search"]["sql"]  # what the site runs
FACET_SQL = [
    "select design, count(*) from studies group by design",
    "select year, count(*) from studies group by year",
    "select journal, count(*) from studies group by journal order by 2 desc limit 31",
    "select j.value, count(*) from studies, json_each(studies.conditions) j group by j.value",
    "select j.value, count(*) from studies, json_each(studies.routes) j "
    "where studies.design = 'Randomized-controlled trial (RCT)' group by j.value",
    "select design, count(*) from studies where 'Post-traumatic stress disorder (PTSD)' in "
    "(select value from json_each(conditions)) group by design",
]


def build(folder: Path, size: int, reuse: bool = False) -> tuple[Path, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for start in range(0, size, PER_FILE):
        path = folder / f"pubmed-{start // PER_FILE + 1:04d}.xml.gz"
        if not path.exists():
            write_corpus(path, min(PER_FILE, size - start), folders=("snapshot", "efetch"),
                         years=(1960, 2026), seed=start, first_pmid=FIRST_PMID + start)
        files.append(path)
    db = folder / "kaplit.db"
    if reuse and db.exists():
        with sqlite3.connect(db) as conn:
            if conn.execute("select count(*) from studies").fetchone()[0] == size:
                print(f"reusing {db}: the ingest and retag columns are left empty")
                return db, {"ingest": (float("nan"), float("nan")), "retag": (float("nan"), float("nan"))}
    for suffix in ("", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    ingest = timed_process(["ingest", *map(str, files), "--no-tag"], db)
    tag = timed_process(["retag"], db)
    return db, {"ingest": ingest, "retag": tag}


def timed_process(command, db: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB (on Linux, wait4 reports the largest of the process and
    the worker processes it reaped)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "kaplit", *command, "--db", str(db)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"kaplit {command[0]} failed (status {status})")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def sql_p95(db: Path, statements: list[tuple[str, tuple]], repeats: int = 3) -> float:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    for sql, params in statements:  # warm the page cache once
        conn.execute(sql, params).fetchall()
    timings = []
    for _ in range(repeats):
        for sql, params in statements:
            started = time.perf_counter()
            conn.execute(sql, params).fetchall()
            timings.append(time.perf_counter() - started)
    return percentile(timings, 95) * 1000


def served_p95(db: Path, requests: int = 600) -> dict:
    with sqlite3.connect(db) as conn:
        cells = conn.execute(
            "select condition, design from evidence_map where studies > 0 and scope = 'all'").fetchall()
    plan = [("facet", facet_path(*cells[i % len(cells)])) for i in range(requests // 2)]
    plan += [("search", "/kaplit/search?" + urlencode({"q": SEARCH_TERMS[i % len(SEARCH_TERMS)]}))
             for i in range(requests // 2)]
    server, port = serve(db, None)
    try:
        primed = wait_until_primed(port, limit=3600)
        timings = run_load(port, plan, 4)
    finally:
        server.terminate()
        server.wait(10)
    return {"primed_s": primed, **{k: percentile(v, 95) * 1000 for k, v in timings.items() if v}}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "kaplit-bench-scale")
    parser.add_argument("--reuse", action="store_true",
                        help="measure queries and pages on databases built by an earlier run (no ingest numbers)")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        db, runs = build(args.scratch / str(size), size, args.reuse)
        (ingest_s, ingest_rss), (tag_s, tag_rss) = runs["ingest"], runs["retag"]
        searches = [(SEARCH_SQL, {"q": term}) for term in SEARCH_TERMS]
        served = served_p95(db)
        rows.append({
            "records": size, "ingest rec/s": size / ingest_s, "ingest RSS MB": ingest_rss,
            "retag rec/s": size / tag_s, "retag RSS MB": tag_rss,
            "bytes/record": db.stat().st_size / size,
            "FTS p95 ms (SQL)": sql_p95(db, searches), "facet p95 ms (SQL)": sql_p95(db, [(s, ()) for s in FACET_SQL]),
            "cache primed s": served["primed_s"], "search p95 ms (site)": served.get("search", float("nan")),
            "facet p95 ms (site)": served.get("facet", float("nan")),
        })
        print_table(rows)
    if len(rows) >= 2:
        small, big = rows[0], rows[-1]
        print(f"\ningest rec/s {big['records']:,} vs {small['records']:,}: "
              f"{big['ingest rec/s'] / small['ingest rec/s']:.2f} (target >= 0.80)")
        print(f"peak RSS: ingest {big['ingest RSS MB'] / small['ingest RSS MB']:.2f}x, "
              f"retag {big['retag RSS MB'] / small['retag RSS MB']:.2f}x (target: flat)")
        for key in ("search p95 ms (site)", "facet p95 ms (site)"):
            print(f"{key}: {big[key] / small[key]:.2f}x (target <= 2)")
        for key in ("FTS p95 ms (SQL)", "facet p95 ms (SQL)"):  # what the site saves its visitors
            print(f"{key}: {big[key] / small[key]:.2f}x (raw SQLite without the site's cache, for reference)")


def print_table(rows):
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:,.0f}" if isinstance(row[k], (int, float)) and row[k] >= 100
                                else f"{row[k]:.1f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
