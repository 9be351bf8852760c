"""Keep-alive connections shared out evenly between `kaplit serve`'s worker processes.

The workers accept connections from one socket, and whichever is awake first takes every
connection waiting: four browser tabs or a reverse proxy's few kept-alive connections often all
land on one worker while the other core idles (4 clients on 2 workers: a 2/2 split in 6 trials of
8, all 4 on one worker in 2). Each worker therefore writes how many connections it is serving
into a shared table (a small file that `serve` makes, one slot per worker), and a worker holding
more than its share answers the next request on one of them with `Connection: close`: the client
connects again, and another worker may take it. A connection counts while it made a request in
the last ACTIVE_SECONDS: ASGI says nothing of a kept-alive connection the client closes, and a
connection that waits longer than that is not the load that needs sharing out.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import struct
import time
from pathlib import Path

from datasette import hookimpl

SLOTS = 64
_SLOT = struct.Struct("qqd")  # worker pid, connections it serves, when it said so (monotonic clock)
ACTIVE_SECONDS = 0.5
CLOSE = (b"connection", b"close")


def make_table(path: Path):
    path.write_bytes(bytes(SLOTS * _SLOT.size))


class Shares:
    """This worker's slot in the table, and the fair share of connections read from all of it."""

    def __init__(self, path: Path):
        self.file = open(path, "r+b")  # noqa: SIM115 (kept open for the worker's life)
        self.table = mmap.mmap(self.file.fileno(), SLOTS * _SLOT.size)
        self.pid = os.getpid()
        self.offset = self._claim()

    def _claim(self) -> int:
        fcntl.flock(self.file, fcntl.LOCK_EX)
        try:
            for slot in range(SLOTS):
                pid, _, _ = _SLOT.unpack_from(self.table, slot * _SLOT.size)
                if pid == 0 or not _alive(pid):  # free, or left by a worker that died
                    _SLOT.pack_into(self.table, slot * _SLOT.size, self.pid, 0, time.monotonic())
                    return slot * _SLOT.size
        finally:
            fcntl.flock(self.file, fcntl.LOCK_UN)
        raise RuntimeError(f"more than {SLOTS} kaplit workers")

    def publish(self, connections: int):
        _SLOT.pack_into(self.table, self.offset, self.pid, connections, time.monotonic())

    def fair(self) -> int:
        """Connections per worker if they were shared out evenly; a worker that answered nothing
        lately serves none (its clients may have gone without a word)."""
        now = time.monotonic()
        counts = [count if now - said < ACTIVE_SECONDS else 0 for pid, count, said in _SLOT.iter_unpack(self.table)
                  if pid == self.pid or pid and _alive(pid)]
        return math.ceil(sum(counts) / len(counts))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Connections:
    """The connections (client address and port) this worker answered lately."""

    def __init__(self, shares: Shares):
        self.shares = shares
        self.seen: dict[tuple, float] = {}
        self.pruned = 0.0

    def answering(self, client: tuple) -> bool:
        """Note a request on `client`'s connection; False when that connection should close."""
        now = time.monotonic()
        self.seen[client] = now
        if now - self.pruned > ACTIVE_SECONDS / 4:
            self.seen = {key: at for key, at in self.seen.items() if now - at < ACTIVE_SECONDS}
            self.pruned = now
        self.shares.publish(len(self.seen))
        if len(self.seen) <= max(1, self.shares.fair()):
            return True
        del self.seen[client]
        self.shares.publish(len(self.seen))
        return False


@hookimpl
def asgi_wrapper(datasette):
    table = getattr(datasette, "kaplit_shares", None)
    if table is None:
        return None  # one worker: nothing to share out
    connections = Connections(Shares(table))

    def wrap(app):
        async def balanced(scope, receive, send):
            client = scope.get("client") if scope["type"] == "http" else None
            if not client or connections.answering(tuple(client)):
                return await app(scope, receive, send)

            async def closing(message):
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), CLOSE]}
                await send(message)

            return await app(scope, receive, closing)

        return balanced

    return wrap
