"""Worker processes for the heavy pure-Python steps (parsing, tagging): this process stays the
only reader and writer of the database and hands the workers plain data."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from contextlib import contextmanager


@contextmanager
def worker_pool(workers: int | None, worth_it: bool):
    """(pool, workers): one worker per core by default when the job is large enough to gain
    from them (`worth_it`), else (None, 0)."""
    if workers is None:
        workers = (os.cpu_count() or 1) if worth_it else 0
    if workers < 1:
        yield None, 0
        return
    # fork: workers start in milliseconds with parser and tagger already loaded; they never
    # touch the parent's SQLite connection, and kaplit starts no threads before this point.
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_default_signals)
    try:
        yield pool, workers
    except BaseException:
        pool.terminate()
        raise
    pool.close()  # workers finish and exit on their own
    pool.join()


def _default_signals():
    """A worker dies of SIGTERM (Pool.terminate relies on it) even when the parent caught it, as
    Scrapy's crawl does in `kaplit build` (a caught SIGTERM left terminate() waiting forever);
    Ctrl-C is for the parent, which then terminates the workers."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def in_order(pool, function, arguments, in_flight: int = 6):
    """function(*args) for each args in `arguments`, yielded in input order: computed in the pool
    with at most `in_flight` tasks queued (bounded memory; the input is read in this thread), or
    here when there is no pool."""
    if pool is None:
        yield from (function(*args) for args in arguments)
        return
    pending = deque()
    try:
        for args in arguments:
            pending.append(pool.apply_async(function, args))
            if len(pending) >= in_flight:
                yield pending.popleft().get()
    except Exception:
        while pending:  # an error in an earlier task is the more precise report
            pending.popleft().get()
        raise
    while pending:
        yield pending.popleft().get()
