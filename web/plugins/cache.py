"""An in-memory response cache for immutable databases, primed with the landing page's links.

An immutable database cannot change while it is served, so a page rendered once is right until
the server restarts on a rebuilt file. Facet pages cost tens of SQLite scans (JSON-list facets
over every matching study: about 0.7-1.2 s at 100,000 studies, bench/web.py), so the pages a
clinician reaches from the landing page are rendered once, in the background after start-up, and
then served from memory. The cache holds at most KAPLIT_CACHE_MB megabytes (default 256; 0 turns
it off), least recently used pages first out. It is off for a --mutable server.

`/-/kaplit-cache.json` reports entries, size, hits and whether priming has finished (a readiness
check for a load balancer, and what bench/web.py waits for).
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Response

from kaplit.web.landing import landing_links
from kaplit.web.urls import DATA_EXTENSION, kaplit_database

SKIP_PREFIX = "/-/"
MAX_PAGE_BYTES = 4 * 1024 * 1024


class ResponseCache:
    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.pages: OrderedDict[str, tuple[dict, bytes]] = OrderedDict()
        self.size = self.hits = self.misses = 0
        self.primed = False

    def get(self, key):
        page = self.pages.get(key)
        if page is None:
            self.misses += 1
            return None
        self.pages.move_to_end(key)
        self.hits += 1
        return page

    def put(self, key, start: dict, body: bytes):
        if len(body) > MAX_PAGE_BYTES or key in self.pages:
            return
        self.pages[key] = (start, body)
        self.size += len(body)
        while self.size > self.max_bytes and self.pages:
            _, (_, dropped) = self.pages.popitem(last=False)
            self.size -= len(dropped)

    def status(self) -> dict:
        return {"enabled": self.max_bytes > 0, "primed": self.primed, "entries": len(self.pages),
                "bytes": self.size, "hits": self.hits, "misses": self.misses}


def cache_for(datasette) -> ResponseCache:
    if not hasattr(datasette, "_kaplit_cache"):
        immutable = all(not db.is_mutable for name, db in datasette.databases.items() if name != "_internal")
        megabytes = int(os.environ.get("KAPLIT_CACHE_MB", "256")) if immutable else 0
        datasette._kaplit_cache = ResponseCache(megabytes * 1024 * 1024)
    return datasette._kaplit_cache


def cache_key(scope) -> str:
    """Path and query with the parameters sorted: the same page whatever their order. HTML pages
    link relatively (web/app.py), so one copy serves every host; data formats carry absolute
    addresses of the host that asked, so their key names it."""
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    key = scope["path"] + "?" + urlencode(sorted(query))
    if DATA_EXTENSION.search(scope["path"]) or any(name == "_format" for name, _ in query):
        key = dict(scope.get("headers", ())).get(b"host", b"").decode("latin-1") + key
    return key


def _cacheable(scope) -> bool:
    return scope["type"] == "http" and scope["method"] == "GET" and not scope["path"].startswith(SKIP_PREFIX)


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def cached(scope, receive, send):
            cache = cache_for(datasette)
            if not cache.max_bytes or not _cacheable(scope):
                return await app(scope, receive, send)
            key = cache_key(scope)
            page = cache.get(key)
            if page is not None:
                start, body = page
                await send({**start, "headers": [*start["headers"], (b"x-kaplit-cache", b"hit")]})
                await send({"type": "http.response.body", "body": body})
                return
            await app(scope, receive, _recording(send, cache, key))

        return cached

    return wrap


def _recording(send, cache: ResponseCache, key: str):
    start, chunks = {}, []

    async def record(message):
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body") and start.get("status") == 200:
                cache.put(key, start, b"".join(chunks))
        await send(message)

    return record


async def prime(datasette):
    """Render the landing page and every page it links to once, so that they are served from
    memory from then on."""
    urls = ["/", *await landing_links(datasette, kaplit_database(datasette))]
    for url in dict.fromkeys(urls):
        await datasette.client.get(url)
    cache_for(datasette).primed = True


def enable_priming(datasette):
    """Prime the cache in the background once the server has started (kaplit serve)."""
    datasette._kaplit_prime = True


@hookimpl
def startup(datasette):
    async def begin_priming():
        if not getattr(datasette, "_kaplit_prime", False) or not cache_for(datasette).max_bytes:
            cache_for(datasette).primed = True
            return
        datasette._kaplit_priming = asyncio.get_running_loop().create_task(prime(datasette))

    return begin_priming


async def cache_status(datasette):
    return Response.json(cache_for(datasette).status())


@hookimpl
def register_routes():
    return [(r"^/-/kaplit-cache\.json$", cache_status)]
