"""Item pipeline: each efetch batch is staged and merged in one transaction (db/staging.py)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kaplit.db.ingest import merge_staged
from kaplit.db.schema import open_db
from kaplit.db.staging import Counts, stage
from kaplit.pipeline.parse.record import Article


class StorePipeline:
    def __init__(self, db_path: str, source: str, plan: str):
        self.db_path, self.source, self.plan = db_path, source, plan
        self.counts = Counts()
        self.db = None
        self.stage_dir = tempfile.TemporaryDirectory(prefix="kaplit-crawl-")
        self.batches = 0

    @classmethod
    def from_crawler(cls, crawler):
        settings = crawler.settings
        pipeline = cls(settings["KAPLIT_DB"], settings.get("KAPLIT_SOURCE", "crawl"), settings.get("KAPLIT_PLAN", ""))
        crawler.kaplit_pipeline = pipeline  # the runner reads the counts from here
        return pipeline

    def process_item(self, item):
        if self.db is None:  # opened on the first batch: a crawl that fetches nothing writes nothing
            self.db = open_db(self.db_path)
        self.batches += 1
        staged = stage(item["items"], Path(self.stage_dir.name) / f"batch-{self.batches}.db", 0)
        staged.rejections = [(seq, f"{self.source}: {reason}") for seq, reason in staged.rejections]
        pmids = [record.pmid for record in item["items"] if isinstance(record, Article)]
        self.counts.add(merge_staged(self.db, [staged], self.source, fetched_wins_ties=True,
                                     also=lambda db: self._remember(db, pmids)))
        return item

    def _remember(self, db, pmids: list[int]):
        """This crawl's plan stored these (crawl_fetched): a killed crawl started again skips them."""
        db.conn.executemany("INSERT OR IGNORE INTO crawl_fetched (plan, pmid) VALUES (?, ?)",
                            [(self.plan, pmid) for pmid in pmids])

    def close_spider(self, spider=None):
        if self.db is not None:
            self.db.close()
        self.stage_dir.cleanup()
