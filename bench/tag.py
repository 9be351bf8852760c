"""Tagging benchmark: abstracts per second on one core (target: >= 2,000).

    python bench/tag.py [--gold ../shared/gold/dev.jsonl.gz] [--repeat 3]

Tags every abstract of the gold file (title + abstract, as `kaplit tag` does, labels included)
in this single process and prints the rate.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kaplit.config import shared_dir  # noqa: E402
from kaplit.pipeline.tagging.tagger import Tagger  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gold", type=Path, default=shared_dir() / "gold" / "dev.jsonl.gz")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with gzip.open(args.gold, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    tagger = Tagger()
    started = time.process_time()
    for _ in range(args.repeat):
        for row in rows:
            tagger.tag_record(row["title"], row["abstract"])
    seconds = time.process_time() - started
    rate = len(rows) * args.repeat / seconds
    print(f"{len(rows) * args.repeat} abstracts in {seconds:.2f} CPU s: {rate:.0f} abstracts/s on one core "
          f"(target 2,000: {'met' if rate >= 2000 else 'not met'})")


if __name__ == "__main__":
    main()
