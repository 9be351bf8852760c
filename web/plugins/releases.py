"""`kaplit serve` follows the releases of its database (db/releases.py): when `kaplit update`
or `kaplit rollback` points the database's file at another release, the server opens it, reads
its bitmaps and switches to it between requests, under the same name and URLs. Requests already
running finish on the release they started with (web/app.py pins it); its connections are
closed a minute later."""

from __future__ import annotations

import asyncio
import contextvars
import sys
from pathlib import Path

from datasette import hookimpl

from kaplit.db.releases import release_name
from kaplit.db.schema import pending_migrations
from kaplit.web.database import KaplitDatabase

POLL_SECONDS = 1.0
CLOSE_AFTER_SECONDS = 60.0  # longer than any request may run (SQL stops after 3 s)


@hookimpl
def startup(datasette):
    pointer = getattr(datasette, "kaplit_pointer", None)
    if pointer is None:
        return None

    async def begin_following():
        # a context of its own: not the first request's, which sees that request's databases to its end
        datasette._kaplit_follower = asyncio.get_running_loop().create_task(
            follow(datasette, pointer), context=contextvars.Context())

    return begin_following


async def follow(datasette, pointer: Path):
    name = pointer.stem
    while True:
        await asyncio.sleep(POLL_SECONDS)
        try:
            target = pointer.resolve(strict=True)
        except OSError:
            continue  # between an unlink and a rename, or the file is gone: keep serving
        served = datasette.get_database(name)
        if Path(served.path) != target:
            await switch_to(datasette, name, target, served)


async def switch_to(datasette, name: str, target: Path, served):
    pending = await asyncio.to_thread(pending_migrations, target)
    if pending is None or pending:
        print(f"kaplit serve: not switching to {target}: "
              f"{'not a kaplit database' if pending is None else 'it lacks ' + ', '.join(pending)}", file=sys.stderr)
        return
    release = KaplitDatabase(datasette, str(target))
    release.name = name
    await release.study_bitmaps()
    await release.execute("select count(*) from studies")
    datasette.replace_database(name, release)
    print(f"kaplit serve: now serving release {release_name(target)} as /{name}", file=sys.stderr, flush=True)
    asyncio.get_running_loop().call_later(CLOSE_AFTER_SECONDS, served.close)
