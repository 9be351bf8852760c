"""Ingest files into the database: one transaction per file, a `crawl_runs` row per run.

A file that cannot be read (broken XML, truncated gzip, not PubMed, unreadable) is rolled back as
a whole and reported with its reason; the other files of the run still ingest. A single record
that cannot be used (no PMID) is skipped and reported, or fails its whole file with `strict`.

Each file is parsed into staging files first (db/staging.py) and merged in one transaction, so
the database never sees half a file. Large XML inputs are parsed by worker processes, one chunk
of whole records at a time (pipeline/parse/chunks.py), each writing its own staging file; this process
is the only writer of the database. `DeleteCitation` blocks are applied after the file's records.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlite_utils import Database

from kaplit.db.staging import SEQ_PER_CHUNK, Counts, Merge, Staged, now, stage
from kaplit.db.summaries import refresh_column_counts
from kaplit.db.workers import in_order, worker_pool
from kaplit.pipeline.parse import chunks, pubmed_xml
from kaplit.pipeline.parse.sources import SourceError, medline_records, open_source, source_errors

MEDLINE_BATCH = 2_000
PARALLEL_MIN_BYTES = 16 << 20  # below this, starting worker processes costs more than it saves
# chunks queued for the workers: enough to keep them parsing while this process merges a generation
IN_FLIGHT = 32


@dataclass
class IngestReport:
    counts: Counts = field(default_factory=Counts)
    files_ok: int = 0
    failures: list[SourceError] = field(default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def stage_chunk(chunk: chunks.Chunk, index: int, stage_dir: str, file_key: str, generation: int) -> Staged:
    """Worker task: parse one chunk into this process's staging file for that generation."""
    path = Path(stage_dir) / f"{file_key}-g{generation}-{os.getpid()}.db"
    return stage(pubmed_xml.parse_chunk(chunk), path, index * SEQ_PER_CHUNK)


def staged_generations(path: Path, stage_dir: str, pool=None, workers: int = 0, on_read=None):
    """Parse one input file into staging files, yielding them a generation at a time (a list
    of Staged, one per staging file) so that merging overlaps with parsing the rest."""
    key = f"f{time.monotonic_ns()}"
    with source_errors(path), open_source(path, on_read) as (kind, stream, compressed):
        if kind == "medline":
            target = Path(stage_dir) / f"{key}-medline.db"
            records = medline_records(stream)
            batches = iter(lambda: list(islice(records, MEDLINE_BATCH)), [])
            yield _by_path([stage(batch, target, i * SEQ_PER_CHUNK) for i, batch in enumerate(batches)])
            return
        generation = _generations(path.stat().st_size * (6 if compressed else 1), max(workers, 1))
        pieces = chunks.split(stream) if compressed else _counted(chunks.split_file(path), on_read)
        tasks = ((chunk, i, stage_dir, key, generation(i)) for i, chunk in enumerate(pieces))
        results = in_order(pool, stage_chunk, tasks, IN_FLIGHT)
        batch, current = [], 0
        for index, result in enumerate(results):  # in chunk order
            if generation(index) != current:
                yield _by_path(batch)
                batch, current = [], generation(index)
            batch.append(result)
        yield _by_path(batch)


def _generations(data_bytes: int, writers: int):
    """chunk index → generation. Each generation's staging files stay attached until the file's
    transaction commits, and SQLite attaches at most 10 databases: so at most 8 files in all."""
    most = max(1, 8 // writers)
    per_generation = max(1, -(-data_bytes // chunks.CHUNK_SIZE) // most + 1)
    return lambda index: min(index // per_generation, most - 1)


def _counted(pieces, on_read):
    """Report progress for chunks that are read by byte range rather than through the stream."""
    for chunk in pieces:
        if on_read and chunk.data is None:
            on_read(chunk.length)
        yield chunk


def _by_path(results: list[Staged]) -> list[Staged]:
    merged: dict[str, Staged] = {}
    for result in results:
        into = merged.setdefault(result.path, Staged(result.path))
        into.records += result.records
        into.deletions += result.deletions
        into.rejections += result.rejections
    return list(merged.values())


def ingest_file(db: Database, path: Path, stage_dir: str | None = None, pool=None, workers: int = 0,
                on_read=None, strict: bool = False) -> Counts:
    """Ingest one file in one transaction; raises SourceError (nothing written) if unusable."""
    if stage_dir is None:
        with tempfile.TemporaryDirectory(prefix="kaplit-stage-") as scratch:
            return ingest_file(db, path, scratch, pool, workers, on_read, strict)
    merge = Merge(db, str(path))
    try:
        with db.atomic():
            for staged in staged_generations(path, stage_dir, pool, workers, on_read):
                rejections = sorted(r for s in staged for r in s.rejections)
                if strict and rejections:
                    raise SourceError(path, f"{rejections[0][1]} (--strict: the whole file is rejected)")
                for s in staged:
                    s.rejections = [(seq, f"{path}: {reason}") for seq, reason in s.rejections]
                merge.add(staged)
            merge.finish()
    finally:
        merge.close()
    return merge.counts


def merge_staged(db: Database, staged: list[Staged], source: str, fetched_wins_ties=False,
                 also=None) -> Counts:
    """Merge already staged records in one transaction (the crawler's batches), with `also(db)`
    in the same transaction when given."""
    merge = Merge(db, source, fetched_wins_ties)
    try:
        with db.atomic():
            merge.add(staged)
            merge.finish()
            if also:
                also(db)
    finally:
        merge.close()
    return merge.counts


def ingest_paths(db: Database, files: list[Path], source: str, version: str,
                 on_read=None, strict: bool = False, workers: int | None = None) -> IngestReport:
    report = IngestReport()
    started = now()
    total = sum(p.stat().st_size for p in files if p.is_file())
    with (worker_pool(workers, total >= PARALLEL_MIN_BYTES) as (pool, count),
          tempfile.TemporaryDirectory(prefix="kaplit-stage-") as stage_dir):
        for path in files:
            try:
                report.counts.add(ingest_file(db, path, stage_dir, pool, count, on_read, strict))
                report.files_ok += 1
            except SourceError as error:
                report.failures.append(error)
    report.run_id = record_run(db, "ingest", started, source, version, report.counts,
                               files=len(files), status="ok" if report.ok else "partial",
                               notes="; ".join(str(f) for f in report.failures)[:2000] or None)
    return report


def record_run(db: Database, kind, started, source, version, counts: Counts, status,
               files=None, notes=None, **extra) -> int:
    """A `crawl_runs` row for a run; a run that changed records also recounts `column_counts`."""
    with db.atomic():
        if counts.added or counts.updated or counts.deleted:
            refresh_column_counts(db)
        table = db["crawl_runs"].insert({
            "kind": kind, "started_at": started, "finished_at": now(), "source": source,
            "status": status, "files": files, "records_seen": counts.records_seen,
            "added": counts.added, "updated": counts.updated, "unchanged": counts.unchanged,
            "older_skipped": counts.older_skipped, "deleted": counts.deleted,
            "rejected": counts.rejected, "software_version": version, "notes": notes, **extra,
        })
    return table.last_pk
