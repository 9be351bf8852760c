"""`/-/kaplit.json`: what the server is serving, and that it is ready (Datasette has run its
start-up hooks, so the bitmaps behind the studies page are in memory), and which worker process
answered. A load balancer's health check, and what `kaplit serve` and the benchmarks ask first."""

from __future__ import annotations

import os

from datasette import hookimpl
from datasette.utils.asgi import Response

from kaplit.web.urls import kaplit_database


async def status(datasette):
    name = kaplit_database(datasette)
    database = datasette.get_database(name)
    bitmaps = database.page_sets.bitmaps if getattr(database, "page_sets", None) else None
    return Response.json({"database": name, "mutable": database.is_mutable, "ready": True,
                          "studies": len(bitmaps.everything) if bitmaps else None, "worker": os.getpid()})


@hookimpl
def register_routes():
    return [(r"^/-/kaplit\.json$", status)]
