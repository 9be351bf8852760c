"""Ingest files into the database: one transaction per file, a `crawl_runs` row per run.

A file that cannot be read (broken XML, truncated gzip, not PubMed, unreadable) is rolled back as
a whole and reported with its reason; the other files of the run still ingest. A single record
that cannot be used (no PMID) is skipped and reported, or fails its whole file with `strict`.

Large XML inputs are parsed by worker processes, one chunk of whole records at a time
(pipeline/chunks.py), while this process is the only writer; results come back in file order, so
`DeleteCitation` blocks apply exactly where they stand.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from db.rows import prepare
from db.store import Counts, Store, now
from pipeline import chunks, pubmed_xml
from pipeline.record import Article, Deletion, Rejected
from pipeline.sources import SourceError, medline_records, open_source, source_errors

BATCH_SIZE = 500
PARALLEL_MIN_BYTES = 16 << 20  # below this, starting worker processes costs more than it saves


@dataclass
class IngestReport:
    counts: Counts = field(default_factory=Counts)
    files_ok: int = 0
    failures: list[SourceError] = field(default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def prepared_chunk(chunk: chunks.Chunk) -> list:
    """Worker task: parse one chunk and prepare its rows (PreparedArticle / Deletion / Rejected)."""
    return [_prepared(item) for item in pubmed_xml.parse_chunk(chunk)]


def _prepared(item):
    return prepare(item) if isinstance(item, Article) else item


@contextmanager
def parser_pool(workers: int | None, total_bytes: int):
    """A process pool when the input is large enough to gain from one, else None (parse here)."""
    if workers is None:
        workers = (os.cpu_count() or 1) if total_bytes >= PARALLEL_MIN_BYTES else 0
    if workers < 1:
        yield None
        return
    # fork: workers start in milliseconds with the parser already imported; they never touch the
    # parent's SQLite connection, and kaplit starts no threads before this point.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        yield pool


def read_prepared(path: Path, pool=None, on_read=None):
    """Yield PreparedArticle / Deletion / Rejected items of one file in order."""
    with source_errors(path), open_source(path, on_read) as (kind, stream, compressed):
        if kind == "medline":
            yield from map(_prepared, medline_records(stream))
            return
        pieces = chunks.split(stream) if compressed else _counted(chunks.split_file(path), on_read)
        if pool is None:
            for chunk in pieces:
                yield from prepared_chunk(chunk)
        else:
            yield from _in_workers(pool, pieces)


def _counted(pieces, on_read):
    """Report progress for chunks that are read by byte range rather than through the stream."""
    for chunk in pieces:
        if on_read and chunk.data is None:
            on_read(chunk.length)
        yield chunk


def _in_workers(pool, chunk_stream, in_flight=6):
    pending = deque()
    try:
        for chunk in chunk_stream:
            pending.append(pool.apply_async(prepared_chunk, (chunk,)))
            if len(pending) >= in_flight:
                yield from pending.popleft().get()
    except Exception:
        while pending:  # a parse error in an earlier chunk is the more precise report
            pending.popleft().get()
        raise
    while pending:
        yield from pending.popleft().get()


class StrictRejection(Exception):
    pass


def ingest_file(db: Database, path: Path, pool=None, on_read=None, strict: bool = False) -> Counts:
    """Ingest one file inside one transaction; raises SourceError (nothing written) if unusable."""
    with db.atomic():
        store = Store(db, source_file=str(path))
        try:
            for item in read_prepared(path, pool, on_read):
                if isinstance(item, Deletion):
                    store.delete(item.pmids)
                elif isinstance(item, Rejected):
                    if strict:
                        raise StrictRejection(item.reason)
                    store.reject(f"{path}: {item.reason}")
                else:
                    store.add(item)
                    if len(store.pending) >= BATCH_SIZE:
                        store.flush()
            store.flush()
        except StrictRejection as error:
            raise SourceError(path, f"{error} (--strict: the whole file is rejected)") from None
    return store.counts


def ingest_paths(db: Database, files: list[Path], source: str, version: str,
                 on_read=None, strict: bool = False, workers: int | None = None) -> IngestReport:
    report = IngestReport()
    started = now()
    total = sum(p.stat().st_size for p in files if p.is_file())
    with parser_pool(workers, total) as pool:
        for path in files:
            try:
                report.counts.add(ingest_file(db, path, pool, on_read, strict))
                report.files_ok += 1
            except SourceError as error:
                report.failures.append(error)
    report.run_id = record_run(db, "ingest", started, source, version, report.counts,
                               files=len(files), status="ok" if report.ok else "partial",
                               notes="; ".join(str(f) for f in report.failures)[:2000] or None)
    return report


def record_run(db: Database, kind, started, source, version, counts: Counts, status,
               files=None, notes=None, **extra) -> int:
    with db.atomic():
        table = db["crawl_runs"].insert({
            "kind": kind, "started_at": started, "finished_at": now(), "source": source,
            "status": status, "files": files, "records_seen": counts.records_seen,
            "added": counts.added, "updated": counts.updated, "unchanged": counts.unchanged,
            "older_skipped": counts.older_skipped, "deleted": counts.deleted,
            "rejected": counts.rejected, "software_version": version, "notes": notes, **extra,
        })
    return table.last_pk
