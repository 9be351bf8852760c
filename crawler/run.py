"""Run one crawl (Scrapy's reactor cannot restart: one crawl per process) and report on it.

Without dates, a crawl continues from the last successful crawl of the same query recorded in
`crawl_runs`: records entered since (entrez date) and records revised since (modification
date). Without any earlier crawl it fetches everything, window by window.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from kaplit.crawler.spiders.pubmed import CrawlOutcome, PubmedSpider, Window
from kaplit.db.ingest import record_run
from kaplit.db.schema import open_db
from kaplit.db.staging import Counts, now

EARLIEST = date(1900, 1, 1)


@dataclass
class CrawlReport:
    query: str
    windows: list
    counts: Counts
    outcome: CrawlOutcome
    requests: int
    retries: int
    seconds: float
    run_id: int | None = None

    @property
    def error(self) -> str | None:
        return self.outcome.fatal


def plan(db_path, query: str, since: date | None, until: date | None, today: date | None = None) -> list[Window]:
    """The date windows to search: explicit dates, else since the last successful crawl, else all."""
    until = until or today or date.today()
    if since is None:
        last = _last_successful_crawl(db_path, query)
        if last is None:
            return [Window("edat", EARLIEST, until)]
        since = date.fromisoformat(last[0])
    return [Window("edat", since, until), Window("mdat", since, until)]


def _last_successful_crawl(db_path, query):
    if not Path(db_path).exists():
        return None
    db = open_db(db_path)
    last = db.execute(
        "SELECT maxdate FROM crawl_runs WHERE kind = 'crawl' AND status = 'ok' AND query = ? "
        "ORDER BY id DESC LIMIT 1", [query]).fetchone()
    db.close()
    return last


def plan_key(query: str, windows: list[Window]) -> str:
    """What identifies one crawl, so that a killed one started again resumes it."""
    return query + " | " + " ".join(f"{w.datetype}:{w.low.isoformat()}..{w.high.isoformat()}" for w in windows)


def fetched_by_plan(db_path, plan: str) -> set[int]:
    """The PMIDs an interrupted crawl of this plan stored already (none once it finished)."""
    if not Path(db_path).exists():
        return set()
    db = open_db(db_path)
    try:
        return {r[0] for r in db.execute("SELECT pmid FROM crawl_fetched WHERE plan = ?", [plan])}
    finally:
        db.close()


def crawl_settings(db_path, source: str, api_key: str | None, verbose: bool = False,
                   timeout: float | None = None, plan: str = "") -> Settings:
    settings = Settings()
    settings.setmodule("kaplit.crawler.settings", priority="project")
    if timeout:
        settings.set("DOWNLOAD_TIMEOUT", timeout, priority="cmdline")
    if verbose:
        settings.set("LOG_LEVEL", "INFO", priority="cmdline")
    settings.set("KAPLIT_DB", str(db_path), priority="cmdline")
    settings.set("KAPLIT_SOURCE", source, priority="cmdline")
    settings.set("KAPLIT_PLAN", plan, priority="cmdline")
    if api_key:
        settings.set("DOWNLOAD_DELAY", settings.getfloat("DOWNLOAD_DELAY_WITH_API_KEY"), priority="cmdline")
    return settings


def run_crawl(db_path, query: str, base_url: str, windows: list[Window], api_key=None, email=None,
              batch_size: int = 1000, on_progress=None, version: str = "", verbose: bool = False,
              timeout: float | None = None) -> CrawlReport:
    started, clock = now(), time.monotonic()
    plan = plan_key(query, windows)
    process = CrawlerProcess(crawl_settings(db_path, f"crawl {base_url}", api_key, verbose, timeout, plan))
    crawler = process.create_crawler(PubmedSpider)
    process.crawl(crawler, base_url=base_url, query=query, windows=windows,
                  already_fetched=fetched_by_plan(db_path, plan), batch_size=batch_size, api_key=api_key,
                  email=email, on_progress=on_progress)
    process.start()
    stats = crawler.stats
    pipeline = getattr(crawler, "kaplit_pipeline", None)
    report = CrawlReport(
        query=query, windows=windows, counts=pipeline.counts if pipeline else Counts(),
        outcome=crawler.spider.outcome, requests=stats.get_value("downloader/request_count", 0),
        retries=stats.get_value("retry/count", 0) + stats.get_value("kaplit_retry/count", 0),
        seconds=time.monotonic() - clock,
    )
    if report.error is None:
        report.run_id = _record(db_path, report, started, base_url, version, plan)
    return report


def _record(db_path, report: CrawlReport, started, base_url, version, plan: str) -> int:
    """The run's `crawl_runs` row; its plan's `crawl_fetched` rows go with it (one transaction):
    the crawl finished, so the next one skips nothing."""
    outcome = report.outcome
    problems = []
    if outcome.failed_ids or outcome.missing_ids:
        problems.append(f"{len(outcome.failed_ids | outcome.missing_ids)} ids not fetched")
    if outcome.incomplete_windows:
        problems.append(f"{len(outcome.incomplete_windows)} one-day windows over 10,000 ids")
    db = open_db(db_path)
    with db.atomic():
        db.execute("DELETE FROM crawl_fetched WHERE plan = ?", [plan])
        run_id = record_run(
            db, "crawl", started, base_url, version, report.counts,
            status="partial" if problems else "ok", notes="; ".join(problems) or None,
            query=report.query, mindate=min(w.low for w in report.windows).isoformat(),
            maxdate=max(w.high for w in report.windows).isoformat(),
            requests=report.requests, retries=report.retries,
        )
    db.close()
    return run_id
