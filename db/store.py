"""Writing prepared records (db/rows.py) into the database, idempotently.

Which version of a record wins does not depend on the order files are ingested in: the one with
the newest `date_revised` (PubMed's DateRevised / LR), and between versions revised on the same
day the one with the greater content hash. So ingesting the same files again, or in another order,
ends in the same database, and a second run reports every record as unchanged. A crawl
(`fetched_wins_ties`) instead keeps what PubMed serves now when the revision dates are equal.

A PMID listed in a `DeleteCitation` is removed with its child rows and remembered in
`deleted_citations`, so that re-reading an older file does not bring it back.

Rows are written with multi-row INSERT statements rather than sqlite-utils' `insert_all`: on
this hot path insert_all spent most of its time on per-value checks and JSON conversion
(measured 3x slower); one statement per row, as `executemany` runs, made FTS5 flush its pending
index at every statement (articles with FTS: 3.3 s per 20,000 rows row by row, 1.7 s in
statements of 100 rows) and cost child tables 30% more. sqlite-utils still owns the schema, migrations and FTS set-up
(db/schema.py), so the column lists always match.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlite_utils import Database

from db.rows import ARTICLE_FIELDS, AUTHOR_FIELDS, CHILD_FIELDS, WRITER_FIELDS, PreparedArticle
from db.schema import CHILD_TABLES

ROWS_PER_STATEMENT = 100
MAX_VARIABLES = 30_000  # per statement; SQLite's limit is 32,766


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
    """Batches prepared records and writes them; use inside a transaction."""

    def __init__(self, db: Database, source_file: str | None = None, fetched_wins_ties: bool = False):
        self.db = db
        self.fetched_wins_ties = fetched_wins_ties
        self.source_file = source_file
        self.pending: dict[int, PreparedArticle] = {}
        self.counts = Counts()

    def add(self, record: PreparedArticle):
        previous = self.pending.get(record.pmid)
        if previous is not None:
            if previous.version == record.version:
                self.counts.unchanged += 1
                return
            self.counts.older_skipped += 1
            if previous.version > record.version:
                return
        self.pending[record.pmid] = record

    def reject(self, reason: str):
        self.counts.rejected += 1
        self.counts.rejections.append(reason)

    def delete(self, pmids: list[int]):
        self.flush()
        stamp = now()
        for chunk in _chunks(pmids):
            existing = [r[0] for r in self._select("SELECT pmid FROM articles WHERE pmid IN ({})", chunk)]
            self._remove(existing)
            self.counts.deleted += len(existing)
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO deleted_citations (pmid, deleted_at, source_file) VALUES (?, ?, ?)",
                [(p, stamp, self.source_file) for p in chunk],
            )

    def flush(self):
        if not self.pending:
            return
        records = list(self.pending.values())
        self.pending.clear()
        pmids = [r.pmid for r in records]
        stored = {
            pmid: (revised or "", digest or "")
            for pmid, revised, digest in self._select(
                "SELECT pmid, date_revised, content_hash FROM articles WHERE pmid IN ({})", pmids)
        }
        tombstoned = {r[0] for r in self._select("SELECT pmid FROM deleted_citations WHERE pmid IN ({})", pmids)}
        fresh, replaced = [], []
        for record in records:
            if record.pmid in tombstoned:
                self.counts.older_skipped += 1
            elif record.pmid not in stored:
                fresh.append(record)
            elif stored[record.pmid] == record.version:
                self.counts.unchanged += 1
            elif self._stored_is_newer(stored[record.pmid], record.version):
                self.counts.older_skipped += 1
            else:
                replaced.append(record)
        self._remove([r.pmid for r in replaced])
        self._insert(fresh + replaced)
        self.counts.added += len(fresh)
        self.counts.updated += len(replaced)

    def _stored_is_newer(self, stored: tuple, incoming: tuple) -> bool:
        if self.fetched_wins_ties:
            return stored[0] > incoming[0]
        return stored > incoming

    def _select(self, sql_template, values):
        for chunk in _chunks(values):
            yield from self.db.conn.execute(sql_template.format(",".join("?" * len(chunk))), chunk)

    def _remove(self, pmids):
        """Delete articles with their child rows, and authors no other article refers to."""
        for chunk in _chunks(pmids):
            marks = ",".join("?" * len(chunk))
            authors = [r[0] for r in self.db.conn.execute(
                f"SELECT DISTINCT author_id FROM article_authors WHERE pmid IN ({marks})", chunk)]
            for table in CHILD_TABLES:
                self.db.conn.execute(f"DELETE FROM [{table}] WHERE pmid IN ({marks})", chunk)
            self.db.conn.execute(f"DELETE FROM articles WHERE pmid IN ({marks})", chunk)
            for group in _chunks(authors):
                marks = ",".join("?" * len(group))
                self.db.conn.execute(
                    f"DELETE FROM authors WHERE id IN ({marks}) AND id NOT IN "
                    f"(SELECT author_id FROM article_authors WHERE author_id IN ({marks}))",
                    group + group,
                )

    def _insert(self, records: list[PreparedArticle]):
        if not records:
            return
        writer_values = (self.source_file, now())
        self._insert_rows("articles", [*ARTICLE_FIELDS, *WRITER_FIELDS], [r.article + writer_values for r in records])
        self._insert_rows("authors", ["id", *AUTHOR_FIELDS], [a for r in records for a in r.authors], "INSERT OR IGNORE")
        for table, fields in CHILD_FIELDS.items():
            verb = "INSERT" if "position" in fields else "INSERT OR IGNORE"
            self._insert_rows(table, ["pmid", *fields], [row for r in records for row in r.children[table]], verb)

    def _insert_rows(self, table, fields, rows, verb="INSERT"):
        """Full groups of ROWS_PER_STATEMENT rows in one multi-row INSERT each, the rest row by
        row: only two statement shapes per table, so the compiled statements the sqlite3
        module caches stay small (caching one shape per batch size grew memory by 170 MB)."""
        one = "(" + ",".join("?" * len(fields)) + ")"
        head = f"{verb} INTO [{table}] ({', '.join(fields)}) VALUES "
        per_statement = min(ROWS_PER_STATEMENT, MAX_VARIABLES // len(fields))
        full = len(rows) - len(rows) % per_statement
        if full:
            sql = head + ",".join([one] * per_statement)
            for start in range(0, full, per_statement):
                self.db.conn.execute(sql, [v for row in rows[start:start + per_statement] for v in row])
        if full < len(rows):
            self.db.conn.executemany(head + one, rows[full:])


def _chunks(items, size=500):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start:start + size]
