"""The E-utilities spider: esearch (history server) per date window, then efetch in batches.

PubMed's esearch gives at most the first 10,000 ids of a query, so each window whose count
reaches that is halved by date until every window fits. Records already stored by an earlier
crawl on or after the window's start are not fetched again (this is what makes a resumed or
repeated crawl cheap). An efetch batch becomes an item only when its XML parsed completely;
otherwise it is retried, and ids still missing after the retries are reported.
"""

from __future__ import annotations

import asyncio
import io
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import date, timedelta

import scrapy
import scrapy.exceptions
import scrapy.signals
from lxml import etree
from scrapy.downloadermiddlewares.retry import get_retry_request

from kaplit.crawler.middlewares import WAIT_KEY, backoff_seconds
from kaplit.pipeline.parse import chunks, pubmed_xml
from kaplit.pipeline.parse.record import Article

ESEARCH_LIMIT = 10_000
# Errors that no retry can fix; any other <ERROR> (e.g. "Unable to obtain query #1", a backend
# hiccup) is retried.
QUERY_REJECTED = re.compile(r"invalid query|syntax error|unknown field|empty term|query is empty", re.I)
PRIORITY = {"esearch_edat": 30, "efetch": 20, "esearch_mdat": 30}


@dataclass(frozen=True)
class Window:
    datetype: str  # "edat" (entered PubMed) or "mdat" (last modified)
    low: date
    high: date

    def halves(self) -> tuple["Window", "Window"] | None:
        if self.low >= self.high:
            return None
        middle = self.low + (self.high - self.low) // 2
        return Window(self.datetype, self.low, middle), Window(self.datetype, middle + timedelta(days=1), self.high)

    def params(self) -> dict:
        return {"datetype": self.datetype, "mindate": self.low.strftime("%Y/%m/%d"),
                "maxdate": self.high.strftime("%Y/%m/%d")}


@dataclass
class CrawlOutcome:
    expected: int = 0
    skipped_known: int = 0
    fetched_ids: set = field(default_factory=set)
    failed_ids: set = field(default_factory=set)
    missing_ids: set = field(default_factory=set)
    incomplete_windows: list = field(default_factory=list)
    fatal: str | None = None
    esearch_ok: int = 0
    last_error: str | None = None


class QueryError(Exception):
    pass


class PubmedSpider(scrapy.Spider):
    name = "pubmed"

    def __init__(self, base_url, query, windows, already_fetched=frozenset(), batch_size=1000, api_key=None,
                 email=None, tool="kaplit", on_progress=None, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/") + "/"
        self.query, self.windows, self.batch_size = query, windows, batch_size
        self.identity = {"tool": tool, **({"email": email} if email else {}),
                         **({"api_key": api_key} if api_key else {})}
        self.already_fetched = frozenset(already_fetched)  # by an interrupted run of this same crawl
        self.outcome = CrawlOutcome()
        self.later: list[Window] = []
        self.on_progress = on_progress

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.next_phase, signal=scrapy.signals.spider_idle)
        return spider

    async def start(self):
        """Entered-date windows first; revised-date windows once those are fetched and stored
        (see next_phase), so records new in this run are not fetched twice."""
        for window in self.windows:
            if window.datetype == "edat":
                yield self.esearch(window)
        self.later = [w for w in self.windows if w.datetype != "edat"]

    def next_phase(self):
        if self.later and self.outcome.fatal is None:
            for window in self.later:
                self.crawler.engine.crawl(self.esearch(window))
            self.later = []
            raise scrapy.exceptions.DontCloseSpider

    # --- esearch ---------------------------------------------------------------------------

    def esearch(self, window: Window) -> scrapy.Request:
        params = {"db": "pubmed", "term": self.query, "usehistory": "y", "retmax": ESEARCH_LIMIT,
                  **window.params(), **self.identity}
        return scrapy.Request(self.base_url + "esearch.fcgi?" + urllib.parse.urlencode(params),
                              callback=self.parse_esearch, errback=self.failed, dont_filter=True,
                              priority=PRIORITY[f"esearch_{window.datetype}"], meta={"window": window})

    def parse_esearch(self, response):
        window = response.meta["window"]
        try:
            root = etree.fromstring(response.body)
        except etree.XMLSyntaxError as error:
            yield from self.retry(response.request, f"broken esearch XML ({error.msg})")
            return
        message = root.findtext("ERROR")
        if message:
            if QUERY_REJECTED.search(message):
                self.stop(f"PubMed rejected the query: {message}")
            else:
                yield from self.retry(response.request, f"E-utilities error: {message}")
            return
        self.outcome.esearch_ok += 1
        count = int(root.findtext("Count") or 0)
        ids = [int(i) for i in root.xpath("IdList/Id/text()")]
        if count >= ESEARCH_LIMIT:
            halves = window.halves()
            if halves:
                for half in halves:
                    yield self.esearch(half)
                return
            self.outcome.incomplete_windows.append((window, count))
        self.outcome.expected += len(ids)
        wanted = [i for i in ids if i not in self.already_fetched and i not in self.outcome.fetched_ids]
        self.outcome.skipped_known += len(ids) - len(wanted)
        self.progress()
        history = {"WebEnv": root.findtext("WebEnv"), "query_key": root.findtext("QueryKey")}
        for start in range(0, len(wanted), self.batch_size):
            batch = wanted[start:start + self.batch_size]
            if len(wanted) == len(ids) and history["WebEnv"]:
                yield self.efetch_from_history(history, start, batch)
            else:
                yield self.efetch_ids(batch)

    # --- efetch ----------------------------------------------------------------------------

    def efetch_from_history(self, history, retstart, batch) -> scrapy.Request:
        params = {"db": "pubmed", "retmode": "xml", "query_key": history["query_key"],
                  "WebEnv": history["WebEnv"], "retstart": retstart, "retmax": len(batch), **self.identity}
        return scrapy.Request(self.base_url + "efetch.fcgi?" + urllib.parse.urlencode(params),
                              callback=self.parse_efetch, errback=self.failed, dont_filter=True,
                              priority=PRIORITY["efetch"], meta={"ids": batch})

    def efetch_ids(self, batch) -> scrapy.Request:
        body = urllib.parse.urlencode({"db": "pubmed", "retmode": "xml", "id": ",".join(map(str, batch)),
                                       **self.identity})
        return scrapy.Request(self.base_url + "efetch.fcgi", method="POST", body=body,
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              callback=self.parse_efetch, errback=self.failed, dont_filter=True,
                              priority=PRIORITY["efetch"], meta={"ids": batch})

    def parse_efetch(self, response):
        expected = response.meta["ids"]
        try:
            items = [item for chunk in chunks.split(io.BytesIO(response.body))
                     for item in pubmed_xml.parse_chunk(chunk)]
        except chunks.XMLError as error:
            yield from self.retry(response.request, f"unusable efetch response ({error})", expected)
            return
        got = {i.pmid for i in items if isinstance(i, Article)}
        self.outcome.fetched_ids |= got
        missing = set(expected) - got
        if missing and not response.meta.get("missing_retry"):
            retry = self.efetch_ids(sorted(missing))
            retry.meta["missing_retry"] = True
            yield retry
        elif missing:
            self.outcome.missing_ids |= missing
        yield {"items": items}
        self.progress()

    # --- failures --------------------------------------------------------------------------

    def retry(self, request, reason, ids=()):
        retry = get_retry_request(request, spider=self, reason=reason, stats_base_key="kaplit_retry")
        if retry is not None:
            retry.meta[WAIT_KEY] = backoff_seconds(request, self.settings)
            yield retry
        else:
            self.outcome.last_error = reason
            self.outcome.failed_ids |= set(ids)

    def failed(self, failure):
        """A request that failed for good (after the retry middleware gave up)."""
        self.outcome.last_error = failure.getErrorMessage() or repr(failure.value)
        self.outcome.failed_ids |= set(failure.request.meta.get("ids", ()))
        if "window" in failure.request.meta and not self.outcome.esearch_ok:
            self.stop(f"E-utilities at {self.base_url} is unreachable: {self.outcome.last_error}")

    def stop(self, message):
        """End the crawl for good (unreachable server, rejected query): nothing more to do."""
        self.outcome.fatal = message
        self.crawler.engine.pause()
        asyncio.ensure_future(self.crawler.engine.close_spider_async(reason="fatal"))

    def progress(self):
        if self.on_progress:
            self.on_progress(len(self.outcome.fetched_ids), self.outcome.expected - self.outcome.skipped_known)
