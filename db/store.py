"""Writing parsed records into the database, idempotently.

Which version of a record wins does not depend on the order files are ingested in: the one with
the newest `date_revised` (PubMed's DateRevised / LR), and between versions revised on the same
day the one with the greater content hash. So ingesting the same files again, or in another order,
ends in the same database, and a second run reports every record as unchanged.

A PMID listed in a `DeleteCitation` is removed with its child rows and remembered in
`deleted_citations`, so that re-reading an older file does not bring it back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlite_utils import Database

from db.schema import ARTICLE_COLUMNS, AUTHOR_COLUMNS, CHILD_TABLES
from pipeline.record import Article

# Child table → (Article attribute, whether rows get a `position`)
CHILD_SOURCES = {
    "abstract_sections": ("sections", True),
    "mesh_headings": ("mesh", True),
    "publication_types": ("publication_types", False),
    "keywords": ("keywords", False),
    "chemicals": ("chemicals", True),
    "grants": ("grants", True),
    "trial_registrations": ("accessions", False),
    "comments_corrections": ("comments_corrections", True),
}
ARTICLE_FIELDS = list(ARTICLE_COLUMNS)
AUTHOR_FIELDS = list(AUTHOR_COLUMNS)
CHILD_FIELDS = {table: ["pmid", *columns] for table, (columns, _) in CHILD_TABLES.items()}
TRIAL_URLS = {
    "ClinicalTrials.gov": "https://clinicaltrials.gov/study/{}",
    "ISRCTN": "https://www.isrctn.com/{}",
    "EudraCT": "https://www.clinicaltrialsregister.eu/ctr-search/search?query={}",
}


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    older_skipped: int = 0
    deleted: int = 0
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)

    def add(self, other: "Counts"):
        for name in ("added", "updated", "unchanged", "older_skipped", "deleted", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejections.extend(other.rejections)

    @property
    def records_seen(self) -> int:
        return self.added + self.updated + self.unchanged + self.older_skipped + self.rejected


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """Batches records and writes them; call `flush()` inside a transaction."""

    def __init__(self, db: Database, source_file: str | None = None):
        self.db = db
        self.source_file = source_file
        self.pending: dict[int, Article] = {}
        self.counts = Counts()

    def add(self, record: Article):
        previous = self.pending.get(record.pmid)
        if previous is not None:
            if _version(previous) == _version(record):
                self.counts.unchanged += 1
                return
            self.counts.older_skipped += 1
            if _version(previous) > _version(record):
                return
        self.pending[record.pmid] = record

    def delete(self, pmids: list[int]):
        self.flush()
        stamp = now()
        for chunk in _chunks(pmids):
            marks = ",".join("?" * len(chunk))
            existing = [r[0] for r in self.db.execute(f"SELECT pmid FROM articles WHERE pmid IN ({marks})", chunk)]
            self._remove(existing)
            self.counts.deleted += len(existing)
            self.db["deleted_citations"].insert_all(
                ({"pmid": p, "deleted_at": stamp, "source_file": self.source_file} for p in chunk),
                pk="pmid", ignore=True,
            )

    def flush(self):
        if not self.pending:
            return
        records = list(self.pending.values())
        self.pending.clear()
        pmids = [r.pmid for r in records]
        stored = self._stored_versions(pmids)
        tombstoned = self._tombstoned(pmids)
        fresh, replaced = [], []
        for record in records:
            if record.pmid in tombstoned:
                self.counts.older_skipped += 1
            elif record.pmid not in stored:
                fresh.append(record)
            elif stored[record.pmid] == _version(record):
                self.counts.unchanged += 1
            elif stored[record.pmid] > _version(record):
                self.counts.older_skipped += 1
            else:
                replaced.append(record)
        self._remove([r.pmid for r in replaced])
        self._insert(fresh + replaced)
        self.counts.added += len(fresh)
        self.counts.updated += len(replaced)

    def _stored_versions(self, pmids) -> dict[int, tuple]:
        versions = {}
        for chunk in _chunks(pmids):
            marks = ",".join("?" * len(chunk))
            for pmid, revised, digest in self.db.execute(
                f"SELECT pmid, date_revised, content_hash FROM articles WHERE pmid IN ({marks})", chunk
            ):
                versions[pmid] = (revised or "", digest or "")
        return versions

    def _tombstoned(self, pmids) -> set[int]:
        found = set()
        for chunk in _chunks(pmids):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(
                f"SELECT pmid FROM deleted_citations WHERE pmid IN ({marks})", chunk))
        return found

    def _remove(self, pmids):
        """Delete articles with their child rows, and authors no other article refers to."""
        for chunk in _chunks(pmids):
            marks = ",".join("?" * len(chunk))
            authors = [r[0] for r in self.db.execute(
                f"SELECT DISTINCT author_id FROM article_authors WHERE pmid IN ({marks})", chunk)]
            for table in CHILD_TABLES:
                self.db.execute(f"DELETE FROM [{table}] WHERE pmid IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM articles WHERE pmid IN ({marks})", chunk)
            for group in _chunks(authors):
                marks = ",".join("?" * len(group))
                self.db.execute(
                    f"DELETE FROM authors WHERE id IN ({marks}) AND id NOT IN "
                    f"(SELECT author_id FROM article_authors WHERE author_id IN ({marks}))",
                    group + group,
                )

    def _insert(self, records: list[Article]):
        if not records:
            return
        stamp = now()
        extra = {"source_file": self.source_file, "ingested_at": stamp}
        self._insert_rows("articles", ARTICLE_FIELDS, ({**r.article, **extra} for r in records))
        self._insert_authors(records)
        for table, (attribute, positioned) in CHILD_SOURCES.items():
            self._insert_rows(
                table, CHILD_FIELDS[table],
                (
                    _child_row(table, record.pmid, position, row, positioned)
                    for record in records
                    for position, row in enumerate(getattr(record, attribute), start=1)
                ),
                ignore=not positioned,
            )

    def _insert_authors(self, records):
        authors, links = {}, []
        for record in records:
            for position, author in enumerate(record.authors, start=1):
                authors.setdefault(author["author_id"], author)
                links.append({
                    "pmid": record.pmid,
                    "position": position,
                    "author_id": author["author_id"],
                    "affiliations": json.dumps(author["affiliations"], ensure_ascii=False)
                    if author["affiliations"] else None,
                    "equal_contrib": author["equal_contrib"],
                })
        self._insert_rows("authors", AUTHOR_FIELDS, ({"id": key, **a} for key, a in authors.items()), ignore=True)
        self._insert_rows("article_authors", CHILD_FIELDS["article_authors"], links)

    def _insert_rows(self, table, fields, rows, ignore=False):
        """Plain executemany: sqlite-utils' insert_all spends most of its time per value
        (type checks, JSON conversion) and measured 3x slower on this hot path. The tables
        themselves are created by sqlite-utils (db/schema.py), so fields always match."""
        verb = "INSERT OR IGNORE" if ignore else "INSERT"
        sql = f"{verb} INTO [{table}] ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})"
        self.db.conn.executemany(sql, ([row.get(f) for f in fields] for row in rows))


def _child_row(table, pmid, position, row, positioned) -> dict:
    out = {"pmid": pmid, **row}
    if positioned:
        out["position"] = position
    if table == "trial_registrations":
        template = TRIAL_URLS.get(row["databank"])
        out["url"] = template.format(row["accession"]) if template and row["is_trial_registration"] else None
    return out


def _version(record: Article) -> tuple:
    return (record.article.get("date_revised") or "", record.article["content_hash"])


def _chunks(items, size=500):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
