"""Ad-hoc SQL in a lane of its own: researchers may send any read-only SQL (time-limited), but it
runs on the same few SQLite threads as every page. At most LANE such queries run at once, and at
most PER_CLIENT from one client; a query over the cap is answered 429 with Retry-After at once,
so that pages and canned queries keep the other threads (kaplit serves with SQL_THREADS of them).
With several worker processes (`kaplit serve --workers`), each has its own threads and lane, and
the LANE places are shared out between them: a worker runs at most LANE // workers (at least one)
at once, so that the queries running on the whole server stay at about LANE.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl

from datasette import hookimpl

LANE = 2
PER_CLIENT = 1
SQL_THREADS = LANE + 2  # Datasette's num_sql_threads: the lane's, and two that pages always have
RETRY_AFTER_SECONDS = 3  # the SQL time limit: by then a running query has finished or stopped
BUSY = (b"Too many SQL queries are running (at most %d at once, %d from one client). "
        b"Try again in %d seconds; canned queries and the pages are not limited.\n")


class Lane:
    def __init__(self, places: int = LANE):
        self.places = places
        self.lock = threading.Lock()
        self.running = 0
        self.by_client: dict[str, int] = {}

    def enter(self, client: str) -> bool:
        with self.lock:
            if self.running >= self.places or self.by_client.get(client, 0) >= PER_CLIENT:
                return False
            self.running += 1
            self.by_client[client] = self.by_client.get(client, 0) + 1
            return True

    def leave(self, client: str):
        with self.lock:
            self.running -= 1
            self.by_client[client] -= 1
            if not self.by_client[client]:
                del self.by_client[client]


def is_ad_hoc_sql(scope) -> bool:
    """A database page (/kaplit, /kaplit.json, /kaplit.csv, ...) asked to run `sql`."""
    if scope["type"] != "http" or not _DATABASE_PATH.match(scope["path"]):
        return False
    query = scope.get("query_string", b"").decode("latin-1")
    return any(name == "sql" and value.strip() for name, value in parse_qsl(query))


_DATABASE_PATH = re.compile(r"^/[^/]+(\.\w+)?$")


@hookimpl
def asgi_wrapper(datasette):
    lane = Lane(max(1, LANE // getattr(datasette, "kaplit_workers", 1)))

    def wrap(app):
        async def in_lane(scope, receive, send):
            if not is_ad_hoc_sql(scope):
                return await app(scope, receive, send)
            client = (scope.get("client") or ("unknown",))[0]
            if not lane.enter(client):
                return await _busy(send)
            try:
                await app(scope, receive, send)
            finally:
                lane.leave(client)

        return in_lane

    return wrap


async def _busy(send):
    await send({"type": "http.response.start", "status": 429, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"retry-after", str(RETRY_AFTER_SECONDS).encode())]})
    await send({"type": "http.response.body", "body": BUSY % (LANE, PER_CLIENT, RETRY_AFTER_SECONDS)})
