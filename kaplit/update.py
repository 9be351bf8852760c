"""`kaplit update`: bring a served database up to date without writing the file being served.

Copy the current release (db/releases.py), crawl PubMed into the copy (or ingest files), re-tag
what changed, rebuild the summaries, record the update, check the copy, and switch the pointer
only when the checks pass (and something changed: else the copy is dropped). Anything that
fails or is interrupted leaves the served release as it was; a partial copy is removed (by the
next update, if this one was killed). One update per process: Scrapy's reactor cannot restart.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kaplit import __version__
from kaplit.db.release import check
from kaplit.db.releases import PARTIAL, ReleaseError, Releases, copy_database, free_bytes, record_update, release_name
from kaplit.db.schema import open_db
from kaplit.db.tags import retag

SPACE_MARGIN = 1.3  # a release's copy plus what an update adds, its journal and the FTS merge


class UpdateFailed(Exception):
    """An update that did not switch: the served release is untouched."""


@dataclass
class UpdateReport:
    release: str | None = None  # the same as `previous` when nothing had changed
    previous: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # per stage
    changes: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    lost_ids: list[int] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


def update(pointer: Path, crawl=None, files: list[Path] | None = None, keep: int = 3, on_stage=None,
           on_progress=None) -> UpdateReport:
    """Build the next release of `pointer` from a crawl (`crawl(db_path) -> CrawlReport`) or from
    files, and switch to it. UpdateFailed says why it did not."""
    releases, report = Releases(Path(pointer)), UpdateReport()
    stage = functools.partial(_stage, report, on_stage)
    releases.clear_partials()
    base = _base_release(releases, stage)
    report.previous = release_name(base) if base else None
    partial = releases.new_partial()
    try:
        if base:
            _ensure_space(base, releases.folder)
            with stage("copy"):
                copy_database(base, partial, on_progress)
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        source, window = _fetch(partial, crawl, files, stage, report)
        with stage("retag"):
            db = open_db(partial)
            retagged = retag(db)
            report.changes = record_update(db, partial.name.removesuffix(f".db{PARTIAL}"), base, started,
                                           source, window, retagged, __version__)
            db.close()
        if base and not retagged and not any(report.changes.values()):
            report.release = report.previous  # nothing to switch to: the served release is current
            return report
        with stage("check"):
            problems = check(partial)
        if problems:
            raise UpdateFailed("the new release failed its checks and was not switched in:\n  "
                               + "\n  ".join(problems))
        with stage("switch"):
            final = releases.finish(partial)
            releases.switch(final)
        report.release = release_name(final)
        report.pruned = [p.name for p in releases.prune(keep)]
        return report
    except sqlite3.OperationalError as error:
        if "full" in str(error):
            raise UpdateFailed(_no_space(releases.folder, base, str(error))) from error
        raise
    finally:
        for leftover in partial.parent.glob(partial.name + "*"):
            leftover.unlink(missing_ok=True)


def rollback(pointer: Path, to: str | None = None) -> tuple[str, str]:
    """Point the pointer at the previous release (or the one named); (from, to) release names."""
    releases = Releases(Path(pointer))
    current = releases.current()
    if current is None:
        raise ReleaseError(f"{pointer} does not exist")
    target = releases.folder / f"{to}.db" if to else releases.previous()
    if target is None or not target.is_file():
        known = ", ".join(r.name.removesuffix(".db") for r in releases.all()) or "none"
        raise ReleaseError(f"no release {'named ' + to if to else 'before ' + release_name(current)} "
                           f"to roll back to (releases: {known})")
    releases.switch(target)
    return release_name(current), release_name(target)


def _base_release(releases: Releases, stage) -> Path | None:
    current = releases.current()
    if current is not None and not releases.pointer.is_symlink():
        with stage("adopt"):
            return releases.adopt_plain_file()
    return current


def _fetch(partial: Path, crawl, files, stage, report: UpdateReport) -> tuple[str, str | None]:
    """Crawl or ingest into the new release; (source, crawl window) for its `updates` row."""
    if files:
        from kaplit.db.ingest import ingest_paths

        with stage("ingest"):
            db = open_db(partial)
            ingested = ingest_paths(db, files, source="files", version=__version__)
            db.close()
        if not ingested.ok:
            raise UpdateFailed("files could not be read: " + "; ".join(map(str, ingested.failures)))
        return f"files: {', '.join(p.name for p in files)}", None
    with stage("crawl"):
        crawled = crawl(partial)
    report.requests = crawled.requests
    report.lost_ids = sorted(crawled.outcome.failed_ids | crawled.outcome.missing_ids)
    if crawled.error:
        raise UpdateFailed(f"the crawl failed: {crawled.error}")
    window = ", ".join(f"{w.datetype} {w.low}..{w.high}" for w in crawled.windows)
    return "crawl", window


def _ensure_space(base: Path, folder: Path):
    needed = base.stat().st_size * SPACE_MARGIN
    if free_bytes(folder) < needed:
        raise UpdateFailed(_no_space(folder, base, "not enough free space to start"))


def _no_space(folder: Path, base: Path | None, detail: str) -> str:
    needed = (base.stat().st_size * SPACE_MARGIN if base else 0) / 2**20
    older = sorted(folder.glob("*.db"))[:-1]
    return (f"the disk holding {folder} is full ({detail}): an update needs about {needed:,.0f} MB free there, "
            f"{free_bytes(folder) / 2**20:,.0f} MB are. Free space on that disk, or keep fewer releases "
            f"(--keep; the {len(older)} older release(s) there take "
            f"{sum(p.stat().st_size for p in older) / 2**20:,.0f} MB). The served release is unchanged.")


@contextmanager
def _stage(report: UpdateReport, on_stage, name: str):
    """Time a stage into the report, and announce it (the drills watch these lines)."""
    if on_stage:
        on_stage(name)
    started = time.perf_counter()
    try:
        yield
    finally:
        report.seconds[name] = time.perf_counter() - started
