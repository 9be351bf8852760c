"""Spider callbacks on XmlResponse objects: window splitting, batching, retries of bad bodies."""

from __future__ import annotations

from datetime import date

import pytest
from scrapy.http import Request, XmlResponse
from scrapy.utils.test import get_crawler

from kaplit.crawler.spiders.pubmed import PubmedSpider, Window


@pytest.fixture
def spider(tmp_path):
    from kaplit.crawler import settings as project

    crawler = get_crawler(PubmedSpider, settings_dict={
        name: getattr(project, name) for name in ("RETRY_TIMES", "RETRY_BACKOFF_BASE", "RETRY_BACKOFF_MAX")})
    crawler.stats.open_spider()
    return PubmedSpider.from_crawler(crawler, base_url="http://127.0.0.1:1/eutils/", query="ketamine",
                                     windows=[], batch_size=2)


def esearch_response(request, count, ids):
    body = (f"<eSearchResult><Count>{count}</Count><QueryKey>1</QueryKey><WebEnv>MCID_1</WebEnv>"
            f"<IdList>{''.join(f'<Id>{i}</Id>' for i in ids)}</IdList></eSearchResult>").encode()
    return XmlResponse(url=request.url, body=body, request=request)


def test_a_window_with_10000_ids_is_halved(spider):
    request = spider.esearch(Window("edat", date(2000, 1, 1), date(2001, 12, 31)))
    halves = list(spider.parse_esearch(esearch_response(request, 12_000, range(10_000))))
    windows = [r.meta["window"] for r in halves]
    assert windows == [Window("edat", date(2000, 1, 1), date(2000, 12, 31)),
                       Window("edat", date(2001, 1, 1), date(2001, 12, 31))]
    assert "mindate=2000%2F01%2F01" in halves[0].url and "maxdate=2000%2F12%2F31" in halves[0].url


def test_ids_are_fetched_in_batches_from_the_history_server(spider):
    request = spider.esearch(Window("edat", date(2000, 1, 1), date(2000, 1, 31)))
    fetches = list(spider.parse_esearch(esearch_response(request, 5, [11, 12, 13, 14, 15])))
    assert [r.meta["ids"] for r in fetches] == [[11, 12], [13, 14], [15]]
    assert all("WebEnv=MCID_1" in r.url and "query_key=1" in r.url for r in fetches)
    assert ["retstart=0", "retstart=2", "retstart=4"] == [r.url.split("&")[4] for r in fetches]


def test_truncated_efetch_body_is_retried_not_stored(spider, efetch_dir):
    body = (efetch_dir / "metapub" / "38011560.xml").read_bytes()
    request = spider.efetch_ids([38011560])
    cut = XmlResponse(url=request.url, body=body[: len(body) // 2], request=request)
    (retry,) = list(spider.parse_efetch(cut))
    assert isinstance(retry, Request) and retry.meta["retry_times"] == 1 and retry.meta["kaplit_wait"] > 0
    whole = XmlResponse(url=request.url, body=body, request=request)
    (item,) = list(spider.parse_efetch(whole))
    assert [r.pmid for r in item["items"]] == [38011560]


def test_error_body_is_retried_and_query_errors_stop(spider):
    request = spider.esearch(Window("edat", date(2000, 1, 1), date(2000, 1, 31)))
    transient = XmlResponse(url=request.url, request=request,
                            body=b"<eSearchResult><ERROR>Unable to obtain query #1</ERROR></eSearchResult>")
    (retry,) = list(spider.parse_esearch(transient))
    assert retry.meta["retry_times"] == 1
    assert spider.outcome.fatal is None
