"""Scale benchmark: build 100,000- and 1,000,000-record databases, serve them, compare.

    python bench/scale.py [--sizes 100000 1000000] [--scratch DIR] [--reuse]

For each size: writes the real records of ../shared (snapshot and efetch) replicated with fresh
PMIDs and publication years spread over 1960-2026, as baseline-like files of 50,000 records;
runs `kaplit ingest --no-tag` (both cores) and `kaplit retag` in their own processes (wall time,
peak RSS); then measures
- the database size per record, and the share of it that issue 18's tables take (study_labels
  and its index, study_bitmaps, label_facet_counts, column_counts; target <= 15 % growth);
- raw SQL facet counts of single-label filters: label_facet_counts (what a researcher runs;
  target p95 <= 50 ms at 1M) with the join over study_labels beside it for reference;
- `kaplit serve`: seconds from its start until it answers /-/kaplit.json and has served the
  first page of each type (target <= 10 s to full speed at 1M), then bench/web.py's load (4
  clients: landing, evidence-map cells, search, article, 80 cold filter combinations), each
  type's p95 over the p95 of /-/versions.json in the same run (target <= 10 at 1M).
The retag rate is printed beside 1,850 records/s, the rate before issue 18 (target: within 10 %).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import FIRST_PMID, write_corpus  # noqa: E402
from bench.web import first_pages, percentile, request_plan, run_load, serve  # noqa: E402

PER_FILE = 50_000
RETAG_BEFORE = 1_850  # records/s of `kaplit retag` before the label tables (issue 18)
ISSUE_18_TABLES = ("study_labels", "study_labels_pmid", "study_bitmaps", "label_facet_counts",
                   "label_facet_counts_filter", "column_counts")
SINGLE_LABEL_COUNTS = "select value, studies from label_facet_counts where facet = ? and label = ? and counted = ?"
SINGLE_LABEL_JOIN = ("select s.{counted}, count(*) from study_labels l join studies s on s.pmid = l.pmid "
                     "where l.facet = ? and l.label = ? group by 1")


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


def single_label_filters(db: Path) -> list[tuple[str, str, str]]:
    """(facet, label, counted column): every condition, route and substance label of 20 studies
    or more, each counted by design, year and journal."""
    with sqlite3.connect(db) as conn:
        labels = conn.execute("select facet, label from study_labels where facet in ('conditions', 'routes', "
                              "'substances') group by 1, 2 having count(*) >= 20").fetchall()
    return [(facet, label, counted) for facet, label in labels for counted in ("design", "year", "journal")]


def label_tables_growth(db: Path) -> float:
    """How much issue 18's tables and indexes add to the file without them."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    marks = ", ".join("?" * len(ISSUE_18_TABLES))
    added = conn.execute(f"select sum(pgsize) from dbstat where name in ({marks})", ISSUE_18_TABLES).fetchone()[0]
    return added / (db.stat().st_size - added)


def served(db: Path, requests: int) -> dict:
    """Readiness, first pages and the p95 ratios of bench/web.py's load on `kaplit serve`."""
    plan = request_plan(db, requests)
    server, port, ready = serve(db)
    try:
        firsts = first_pages(port, plan)
        full_speed = ready + sum(firsts.values())
        run_load(port, [p for p in plan[: len(plan) // 10] if p[0] != "cold"], 4)  # OS page cache
        timings = run_load(port, plan, 4)
    finally:
        server.terminate()
        server.wait(10)
    baseline = percentile(timings["versions"], 95)
    return {"ready s": ready, "full speed s": full_speed,
            **{f"{kind} p95/versions": percentile(values, 95) / baseline
               for kind, values in timings.items() if kind != "versions"},
            "versions p95 ms": baseline * 1000}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "kaplit-bench-scale")
    parser.add_argument("--reuse", action="store_true",
                        help="measure queries and pages on databases built by an earlier run (no ingest numbers)")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        db, runs = build(args.scratch / str(size), size, args.reuse)
        (ingest_s, ingest_rss), (tag_s, tag_rss) = runs["ingest"], runs["retag"]
        filters = single_label_filters(db)
        rows.append({
            "records": size, "ingest rec/s": size / ingest_s, "ingest RSS MB": ingest_rss,
            "retag rec/s": size / tag_s, "retag RSS MB": tag_rss,
            "bytes/record": db.stat().st_size / size, "label tables +%": 100 * label_tables_growth(db),
            "label counts p95 ms": sql_p95(db, [(SINGLE_LABEL_COUNTS, f) for f in filters]),
            "label join p95 ms": sql_p95(db, [(SINGLE_LABEL_JOIN.format(counted=c), (f, label))
                                               for f, label, c in filters[:60]], repeats=1),
            **served(db, args.requests),
        })
        print_table(rows)
    big = rows[-1]
    print(f"\nat {big['records']:,} records (targets): retag {big['retag rec/s'] / RETAG_BEFORE:.2f}x of "
          f"{RETAG_BEFORE:,}/s (>= 0.90); label tables +{big['label tables +%']:.1f} % (<= 15); "
          f"single-label facet counts p95 {big['label counts p95 ms']:.2f} ms (<= 50); "
          f"full speed {big['full speed s']:.1f} s after start (<= 10)")
    ratios = {k: v for k, v in big.items() if k.endswith("p95/versions")}
    print("page p95 / versions p95 (<= 10): " + ", ".join(f"{k.split()[0]} {v:.2f}" for k, v in ratios.items()))


def print_table(rows):
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |\n|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:,.0f}" if isinstance(row[k], (int, float)) and row[k] >= 100
                                else f"{row[k]:.1f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
