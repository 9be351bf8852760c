"""Scrapy settings for the E-utilities crawler: politeness first.

NCBI allows 3 requests/s without an API key and 10/s with one. One request at a time to the
one host, with a fixed delay and no jitter (Scrapy's default jitter would shorten some gaps
below the limit), keeps every 1-second window within the limit; `kaplit crawl` lowers the
delay when an API key is configured.
"""

BOT_NAME = "kaplit"
SPIDER_MODULES = ["kaplit.crawler.spiders"]
ROBOTSTXT_OBEY = False  # an API, not pages; NCBI's usage policy is what we follow

CONCURRENT_REQUESTS = 1
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_DELAY = 0.36  # seconds between request starts: < 3 requests/s with margin
DOWNLOAD_DELAY_WITH_API_KEY = 0.11  # < 10 requests/s
DOWNLOAD_DELAY_JITTER = 0
AUTOTHROTTLE_ENABLED = False  # the delay above is the contract; autothrottle may go below it
DOWNLOAD_TIMEOUT = 120
DOWNLOAD_MAXSIZE = 512 * 1024 * 1024

RETRY_ENABLED = True
RETRY_TIMES = 6
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 408, 522, 524]
RETRY_BACKOFF_BASE = 0.5  # seconds, doubled at each retry; Retry-After wins when sent
RETRY_BACKOFF_MAX = 30

DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "kaplit.crawler.middlewares.PoliteRetryMiddleware": 550,
    "kaplit.crawler.middlewares.BackoffMiddleware": 560,
}
ITEM_PIPELINES = {"kaplit.crawler.pipelines.StorePipeline": 300}

COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "CRITICAL"  # `kaplit crawl` reports retries and failures itself; --verbose shows more
USER_AGENT = "kaplit (+https://pubmed.ncbi.nlm.nih.gov/; E-utilities client)"

# Our parse-level retries re-send the request with its meta (retry count included) on purpose.
SPIDER_MIDDLEWARES = {"scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None}
