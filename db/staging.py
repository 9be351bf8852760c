"""Staging: parsed records go first into scratch SQLite files, then into the database by SQL.

Why: handing rows to SQLite from Python (binding every value, one statement per row or per
hundred rows) cost the single writer three times what SQLite's own `INSERT ... SELECT` costs,
and the writer is the one part of an ingest that cannot run in parallel. So whoever parses a
chunk (a worker process for large files) also writes its rows into a private staging file with
no indexes; the writer then merges all staging files of one input file in one transaction:

- which version of a PMID wins does not depend on the order files are ingested in: the one
  with the newest `date_revised` (PubMed's DateRevised / LR), and between versions revised on
  the same day the greater content hash, so ingesting the same files again, or in another
  order, ends in the same database and a second run reports every record as unchanged; a
  crawl (`fetched_wins_ties`) keeps what PubMed serves now when revision dates are equal;
- a replaced record loses all its child rows, and authors no other article refers to;
- PMIDs of a `DeleteCitation` are removed and remembered in `deleted_citations`, so that
  re-reading an older file does not bring them back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from kaplit.db.rows import ARTICLE_FIELDS, AUTHOR_FIELDS, AUTHOR_NAME_FIELDS, CHILD_FIELDS, WRITER_FIELDS, prepare
from kaplit.db.schema import CHILD_TABLES
from kaplit.pipeline.parse.record import Article, Deletion, Rejected

SEQ_PER_CHUNK = 1_000_000  # sequence numbers: chunk index * SEQ_PER_CHUNK + position in chunk


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


@dataclass
class Staged:
    """What a staging pass reports back: where the rows are, plus the events to apply in order."""

    path: str
    records: int = 0
    deletions: list[tuple[int, list[int]]] = field(default_factory=list)  # (seq, pmids)
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (seq, reason)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _columns(fields) -> str:
    return ", ".join(f"[{f}]" for f in fields)


def stage(items, path: Path | str, first_seq: int) -> Staged:
    """Write Article / Deletion / Rejected items into the staging file at `path` (appending)."""
    staged = Staged(str(path))
    rows = {"articles": [], "authors": [], **{t: [] for t in CHILD_TABLES}}
    for offset, item in enumerate(items):
        seq = first_seq + offset
        if isinstance(item, Article):
            article, authors, children = prepare(item, seq)
            rows["articles"].append(article)
            rows["authors"].extend(authors)
            for table, child_rows in children.items():
                rows[table].extend(child_rows)
            staged.records += 1
        elif isinstance(item, Deletion):
            staged.deletions.append((seq, item.pmids))
        elif isinstance(item, Rejected):
            staged.rejections.append((seq, item.reason))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")  # scratch data: a crash just means parsing again
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        _create_staging_tables(conn)
        for table, table_rows in rows.items():
            if table_rows:
                fields = _staging_fields(table)
                verb = "INSERT OR IGNORE" if table == "authors" else "INSERT"
                conn.executemany(f"{verb} INTO [{table}] ({_columns(fields)}) VALUES "
                                 f"({', '.join('?' * len(fields))})", table_rows)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return staged


def _staging_fields(table) -> list[str]:
    if table == "articles":
        return [*ARTICLE_FIELDS, "_seq"]
    if table == "authors":
        return AUTHOR_FIELDS
    return [*CHILD_FIELDS[table], "_seq"]


def _create_staging_tables(conn):
    for table in ("articles", "authors", *CHILD_TABLES):
        if table == "authors":
            conn.execute(f"CREATE TABLE IF NOT EXISTS authors ({_columns(AUTHOR_FIELDS)}, PRIMARY KEY (id))")
        else:
            conn.execute(f"CREATE TABLE IF NOT EXISTS [{table}] ({_columns(_staging_fields(table))})")


class Merge:
    """Merge staging files into the database; use inside the caller's transaction."""

    def __init__(self, db, source_file: str | None, fetched_wins_ties: bool = False):
        self.conn = db.conn
        self.source_file = source_file
        self.fetched_wins_ties = fetched_wins_ties
        self.counts = Counts()
        self.staged: list[Staged] = []
        self.aliases: list[str] = []

    def add(self, staged: list[Staged]):
        """Merge the records of these staging files (their deletions wait for `finish`)."""
        self.staged += staged
        aliases = self._attach(staged)
        if not aliases:
            return
        self._prepare_temp_tables(aliases, sorted(self._deleting()))
        self._count_decisions()
        self._remove("SELECT pmid FROM temp._decision WHERE action = 'replace'")
        self._drop_orphan_authors()
        for alias in aliases:
            self._insert_from(alias)

    def finish(self):
        """Apply the deletions, then report the rejected records, in file order."""
        deleting = sorted(self._deleting())
        if deleting:
            self._load_deleting(deleting)
            self._delete(deleting)
        for _, reason in sorted(r for s in self.staged for r in s.rejections):
            self.counts.rejected += 1
            self.counts.rejections.append(reason)

    def _deleting(self) -> set[int]:
        return {p for s in self.staged for _, pmids in s.deletions for p in pmids}

    def _attach(self, staged) -> list[str]:
        aliases = []
        for s in staged:
            if s.records:
                alias = f"stage{len(self.aliases)}"
                self.conn.execute("ATTACH DATABASE ? AS " + alias, [s.path])
                self.aliases.append(alias)
                aliases.append(alias)
        return aliases

    def close(self):
        """Detach and delete the staging files; call after the transaction ended (SQLite
        refuses DETACH inside one)."""
        for alias in self.aliases:
            self.conn.execute(f"DETACH DATABASE {alias}")
        self.aliases = []
        for s in self.staged:
            Path(s.path).unlink(missing_ok=True)

    def _prepare_temp_tables(self, aliases, deleting):
        conn = self.conn
        for name in ("_incoming", "_decision", "_old_authors"):
            conn.execute(f"DROP TABLE IF EXISTS temp.{name}")
        conn.execute("CREATE TEMP TABLE _incoming (seq INTEGER PRIMARY KEY, pmid INTEGER, rev TEXT, hash TEXT)")
        for alias in aliases:
            conn.execute(f"INSERT INTO temp._incoming SELECT _seq, pmid, coalesce(date_revised, ''), "
                         f"content_hash FROM {alias}.articles")
        self._load_deleting(deleting)
        tie = "seq DESC" if self.fetched_wins_ties else "hash DESC"
        stored_newer = ("coalesce(a.date_revised, '') > w.rev" if self.fetched_wins_ties else
                        "(coalesce(a.date_revised, '') > w.rev OR "
                        "(coalesce(a.date_revised, '') = w.rev AND a.content_hash > w.hash))")
        conn.execute(f"""
            CREATE TEMP TABLE _decision AS
            WITH ranked AS (
                SELECT *, row_number() OVER (PARTITION BY pmid ORDER BY rev DESC, {tie}) AS rank
                FROM temp._incoming
            ), winners AS (SELECT * FROM ranked WHERE rank = 1)
            SELECT w.seq AS seq, w.pmid AS pmid, CASE
                WHEN t.pmid IS NOT NULL OR d.pmid IS NOT NULL THEN 'skip'
                WHEN a.pmid IS NULL THEN 'add'
                WHEN coalesce(a.date_revised, '') = w.rev AND a.content_hash = w.hash THEN 'same'
                WHEN {stored_newer} THEN 'skip'
                ELSE 'replace' END AS action
            FROM winners w
            LEFT JOIN main.articles a ON a.pmid = w.pmid
            LEFT JOIN main.deleted_citations t ON t.pmid = w.pmid
            LEFT JOIN temp._deleting d ON d.pmid = w.pmid
        """)
        conn.execute("CREATE INDEX temp._decision_seq ON _decision (seq)")

    def _load_deleting(self, pmids):
        self.conn.execute("DROP TABLE IF EXISTS temp._deleting")
        self.conn.execute("CREATE TEMP TABLE _deleting (pmid INTEGER PRIMARY KEY)")
        self.conn.executemany("INSERT INTO temp._deleting VALUES (?)", [(p,) for p in pmids])

    def _count_decisions(self):
        found = dict(self.conn.execute("SELECT action, count(*) FROM temp._decision GROUP BY action"))
        same_as_winner, other = self.conn.execute("""
            SELECT coalesce(sum(i.hash = w.hash), 0), coalesce(sum(i.hash != w.hash), 0)
            FROM temp._incoming i JOIN temp._incoming w ON w.pmid = i.pmid
            JOIN temp._decision d ON d.seq = w.seq WHERE i.seq != w.seq
        """).fetchone()
        self.counts.added += found.get("add", 0)
        self.counts.updated += found.get("replace", 0)
        self.counts.unchanged += found.get("same", 0) + same_as_winner
        self.counts.older_skipped += found.get("skip", 0) + other

    def _remove(self, pmid_query: str):
        """Delete those articles with all their child rows; remember their authors."""
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _old_authors (author_id TEXT PRIMARY KEY)")
        self.conn.execute(f"INSERT OR IGNORE INTO temp._old_authors SELECT DISTINCT author_id "
                          f"FROM main.article_authors WHERE pmid IN ({pmid_query})")
        for table in CHILD_TABLES:
            self.conn.execute(f"DELETE FROM main.[{table}] WHERE pmid IN ({pmid_query})")
        self.conn.execute(f"DELETE FROM main.articles WHERE pmid IN ({pmid_query})")

    def _insert_from(self, alias):
        accepted = "SELECT seq FROM temp._decision WHERE action IN ('add', 'replace')"
        fields = _columns(ARTICLE_FIELDS)
        self.conn.execute(
            f"INSERT INTO main.articles ({fields}, {_columns(WRITER_FIELDS)}) "
            f"SELECT {fields}, ?, ? FROM {alias}.articles WHERE _seq IN ({accepted})",
            [self.source_file, now()])
        authors = _columns(AUTHOR_FIELDS)
        touched = f"SELECT author_id FROM {alias}.article_authors WHERE _seq IN ({accepted})"
        self.conn.execute(
            f"INSERT OR IGNORE INTO main.authors ({authors}) SELECT {authors} FROM {alias}.authors "
            f"WHERE id IN ({touched})")
        for table, (_, pk) in CHILD_TABLES.items():
            fields = _columns(CHILD_FIELDS[table])
            verb = "INSERT" if "position" in pk else "INSERT OR IGNORE"
            self.conn.execute(f"{verb} INTO main.[{table}] ({fields}) SELECT {fields} "
                              f"FROM {alias}.[{table}] WHERE _seq IN ({accepted})")
        self._name_authors(touched)

    def _name_authors(self, author_ids: str):
        """An `authors` row shows the name most of its authorships give (the first in sort order
        on a tie), whatever order the records came in; each authorship keeps its own."""
        names = _columns(AUTHOR_NAME_FIELDS)
        self.conn.execute(f"""
            UPDATE main.authors SET ({names}) = (
              SELECT {names} FROM main.article_authors aa WHERE aa.author_id = authors.id
              GROUP BY {names} ORDER BY count(*) DESC, {names} LIMIT 1)
            WHERE id IN ({author_ids})
              AND EXISTS (SELECT 1 FROM main.article_authors aa WHERE aa.author_id = authors.id)""")

    def _drop_orphan_authors(self):
        self._name_authors("SELECT author_id FROM temp._old_authors")
        self.conn.execute("""
            DELETE FROM main.authors WHERE id IN (SELECT author_id FROM temp._old_authors)
            AND NOT EXISTS (SELECT 1 FROM main.article_authors aa WHERE aa.author_id = authors.id)
        """)
        self.conn.execute("DELETE FROM temp._old_authors")

    def _delete(self, pmids):
        present = "SELECT pmid FROM main.articles WHERE pmid IN (SELECT pmid FROM temp._deleting)"
        self.counts.deleted += self.conn.execute(f"SELECT count(*) FROM ({present})").fetchone()[0]
        self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS _present (pmid INTEGER PRIMARY KEY)")
        self.conn.execute("DELETE FROM temp._present")
        self.conn.execute(f"INSERT INTO temp._present {present}")
        self._remove("SELECT pmid FROM temp._present")
        self._drop_orphan_authors()
        stamp = now()
        self.conn.executemany(
            "INSERT OR IGNORE INTO main.deleted_citations (pmid, deleted_at, source_file) VALUES (?, ?, ?)",
            [(p, stamp, self.source_file) for p in pmids])
