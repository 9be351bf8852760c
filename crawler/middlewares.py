"""Retries that back off: honour Retry-After, otherwise wait longer after each failure."""

from __future__ import annotations

from scrapy.downloadermiddlewares.retry import RetryMiddleware, get_retry_request
from scrapy.exceptions import CannotResolveHostError, DownloadConnectionRefusedError
from scrapy.utils.defer import deferred_to_future
from scrapy.utils.response import response_status_message
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.task import deferLater

WAIT_KEY = "kaplit_wait"
UNREACHABLE_RETRIES = 2
NOBODY_THERE = (ConnectionRefusedError, DNSLookupError, DownloadConnectionRefusedError, CannotResolveHostError)


def backoff_seconds(request, settings) -> float:
    retries = request.meta.get("retry_times", 0)
    return min(settings.getfloat("RETRY_BACKOFF_BASE") * 2 ** retries, settings.getfloat("RETRY_BACKOFF_MAX"))


def retry_after_seconds(response) -> float | None:
    value = response.headers.get(b"Retry-After")
    try:
        return max(0.0, float(value.decode())) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


class PoliteRetryMiddleware(RetryMiddleware):
    """Scrapy's retries (its settings, its public `get_retry_request`), with the wait before each
    retry set in the request's meta: the server's Retry-After, else a doubling backoff."""

    def process_response(self, request, response, spider=None):
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        reason = response_status_message(response.status)
        return self._polite_retry(request, reason, retry_after_seconds(response)) or response

    def process_exception(self, request, exception, spider=None):
        if request.meta.get("dont_retry") or not isinstance(exception, self.exceptions_to_retry):
            return None
        if isinstance(exception, NOBODY_THERE):
            # nobody listens there: retry briefly, so that "unreachable" is said within seconds
            request.meta.setdefault("max_retry_times", UNREACHABLE_RETRIES)
        return self._polite_retry(request, exception, None)

    def _polite_retry(self, request, reason, wait):
        if wait is None:
            wait = backoff_seconds(request, self.crawler.settings)
        retry = get_retry_request(
            request, spider=self.crawler.spider, reason=reason,
            max_retry_times=request.meta.get("max_retry_times", self.max_retry_times),
            priority_adjust=request.meta.get("priority_adjust", self.priority_adjust),
            give_up_log_level=request.meta.get("give_up_log_level", self.give_up_log_level))
        if retry is not None:
            retry.meta[WAIT_KEY] = wait
        return retry


class BackoffMiddleware:
    """Holds a retried request for the wait its meta asks for before it is sent."""

    async def process_request(self, request, spider=None):
        wait = request.meta.pop(WAIT_KEY, 0)
        if wait:
            from twisted.internet import reactor  # the one Scrapy installed

            await deferred_to_future(deferLater(reactor, wait, lambda: None))
        return None
