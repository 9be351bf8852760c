"""Ingest benchmark: full `kaplit ingest` against a raw lxml iterparse of the same file.

    python bench/ingest.py [--records 20000] [--folders efetch snapshot] [--scratch DIR]

Builds a corpus of real efetch records from ../shared replicated with fresh PMIDs, then at N and
2N records prints: records/s of a bare lxml iterparse (clear each record, nothing else), records/s
of the full ingest (parse, normalize, store with FTS and child tables, in a fresh
`kaplit ingest --no-tag` process), their ratio, and the ingest process's peak RSS; then the
records/s of the tagging step that `kaplit ingest` runs next by default (`kaplit retag`, its own
process, tagging in one worker per core; bench/tag.py measures the tagger alone) and of both
together. Targets: ratio >= 0.5, peak RSS < 300 MB and flat from N to 2N.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import write_corpus  # noqa: E402


def raw_iterparse(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    count = 0
    for _, elem in etree.iterparse(str(path), events=("end",), tag="PubmedArticle", load_dtd=False,
                                   no_network=True, huge_tree=True):
        count += 1
        elem.clear(keep_tail=True)
        while elem.getprevious() is not None:
            del elem.getparent()[0]
    return count, time.perf_counter() - started


def kaplit(*arguments) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `kaplit` command in its own process."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "kaplit", *map(str, arguments)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"kaplit {' '.join(map(str, arguments))} failed (status {status})")
    return elapsed, usage.ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--scratch", type=Path, default=None, help="folder for the corpus and databases")
    parser.add_argument("--folders", nargs="+", default=["efetch"],
                        help="folders of ../shared/pubmed whose records are replicated (snapshot: abstracts to tag)")
    args = parser.parse_args()
    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="kaplit-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in (args.records, args.records * 2):
        corpus = write_corpus(scratch / f"corpus-{size}-{'-'.join(args.folders)}.xml", size, folders=args.folders)
        count, raw_seconds = raw_iterparse(corpus)
        assert count == size, (count, size)
        db = scratch / f"ingest-{size}.db"
        db.unlink(missing_ok=True)
        seconds, rss = kaplit("ingest", corpus, "--no-tag", "--db", db)
        tag_seconds, _ = kaplit("retag", "--db", db)
        rows.append((size, count / raw_seconds, size / seconds, rss, size / tag_seconds,
                     size / (seconds + tag_seconds)))
    rows.sort()
    print(f"{'records':>8} {'raw lxml rec/s':>15} {'ingest rec/s':>13} {'ratio':>6} {'peak RSS MB':>12} "
          f"{'then tag rec/s':>15} {'both rec/s':>11}")
    for size, raw_rate, rate, rss, tag_rate, both in rows:
        print(f"{size:>8} {raw_rate:>15.0f} {rate:>13.0f} {rate / raw_rate:>6.2f} {rss:>12.0f} {tag_rate:>15.0f} "
              f"{both:>11.0f}")
    print(f"RSS growth from {rows[0][0]} to {rows[1][0]} records: {rows[1][3] / rows[0][3]:.2f}x")


if __name__ == "__main__":
    main()
