"""Ingest files into the database: one transaction per file, a `crawl_runs` row per run.

A file that cannot be read (broken XML, truncated gzip, not PubMed, unreadable) is rolled back as
a whole and reported with its reason; the other files of the run still ingest. A single record
that cannot be used (no PMID) is skipped and reported, or fails its whole file with `strict`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlite_utils import Database

from db.store import Counts, Store, now
from pipeline.record import Article, Deletion, Rejected
from pipeline.sources import SourceError, read_records

BATCH_SIZE = 500


@dataclass
class IngestReport:
    counts: Counts = field(default_factory=Counts)
    files_ok: int = 0
    failures: list[SourceError] = field(default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


class StrictRejection(Exception):
    pass


def ingest_file(db: Database, path: Path, on_read=None, strict: bool = False) -> Counts:
    """Ingest one file inside one transaction; raises SourceError (nothing written) if unusable."""
    with db.atomic():
        store = Store(db, source_file=str(path))
        try:
            for item in read_records(path, on_read):
                if isinstance(item, Article):
                    store.add(item)
                    if len(store.pending) >= BATCH_SIZE:
                        store.flush()
                elif isinstance(item, Deletion):
                    store.delete(item.pmids)
                elif isinstance(item, Rejected):
                    if strict:
                        raise StrictRejection(item.reason)
                    store.counts.rejected += 1
                    store.counts.rejections.append(f"{path}: {item.reason}")
            store.flush()
        except StrictRejection as error:
            raise SourceError(path, f"{error} (--strict: the whole file is rejected)") from None
    return store.counts


def ingest_paths(db: Database, files: list[Path], source: str, version: str,
                 on_read=None, on_file=None, strict: bool = False) -> IngestReport:
    report = IngestReport()
    started = now()
    for path in files:
        if on_file:
            on_file(path)
        try:
            report.counts.add(ingest_file(db, path, on_read, strict))
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
