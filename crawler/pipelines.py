"""Item pipeline: each efetch batch is written in one transaction through db/store.py."""

from __future__ import annotations

from db.schema import open_db
from db.store import Counts, Store


class StorePipeline:
    def __init__(self, db_path: str, source: str):
        self.db_path, self.source = db_path, source
        self.counts = Counts()
        self.db = None

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls(crawler.settings["KAPLIT_DB"], crawler.settings.get("KAPLIT_SOURCE", "crawl"))
        crawler.kaplit_pipeline = pipeline  # the runner reads the counts from here
        return pipeline

    def process_item(self, item):
        if self.db is None:  # opened on the first batch: a crawl that fetches nothing writes nothing
            self.db = open_db(self.db_path)
        with self.db.atomic():
            store = Store(self.db, source_file=self.source, fetched_wins_ties=True)
            for record in item["records"]:
                store.add(record)
            store.flush()
            for pmids in item["deletions"]:
                store.delete(pmids)
            for reason in item["rejections"]:
                store.reject(f"{self.source}: {reason}")
        self.counts.add(store.counts)
        return item

    def close_spider(self, spider=None):
        if self.db is not None:
            self.db.close()
