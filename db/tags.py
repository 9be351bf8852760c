"""Tagging stored articles: `tags` keeps every tag with its evidence, `studies` one row per
article with the gold-style labels and the article columns clinicians browse by (JSON arrays
where an article can have several values), `study_labels` those arrays' labels as indexed rows,
`study_bitmaps` the studies of each value of each facet column.

Each batch is replaced whole in one transaction, so a re-tag never leaves stale tags behind;
the landing page's summary tables are rebuilt after every re-tag that changed anything. Large
re-tags compute the tags in worker processes (one per core); this process alone reads and
writes the database.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlite_utils import Database

from kaplit.db.bitmaps import refresh_bitmaps
from kaplit.db.links import link_records
from kaplit.db.schema import STUDY_COLUMNS
from kaplit.db.summaries import refresh_summaries, summaries_behind
from kaplit.db.workers import in_order, worker_pool
from kaplit.pipeline.tagging.tagger import TaggedRecord, Tagger
from kaplit.pipeline.tagging.taxonomy import LABELLED_COLUMNS, STUDY_COLUMNS_FROM_TAGS

BATCH = 1000
PARALLEL_MIN = 20_000  # articles; below this, starting worker processes costs more than it saves
TAG_FIELDS = ("pmid", "facet", "value", "source", "matched", "start", "end", "rule", "tagger_version", "final")


def retag(db: Database, everything: bool = False, on_progress=None, workers: int | None = None) -> int:
    """Tag articles whose tags are missing or out of date (all of them with `everything`)."""
    global _TAGGER
    tagger = _TAGGER = Tagger()  # worker processes inherit it
    stale = "" if everything else (
        "WHERE s.pmid IS NULL OR s.tagger_version != :version OR s.tagged_at < a.ingested_at")
    pmids = [r[0] for r in db.execute(
        f"SELECT a.pmid FROM articles a LEFT JOIN studies s ON s.pmid = a.pmid {stale} ORDER BY a.pmid",
        {"version": tagger.version})]
    with db.atomic():  # tags of articles that no longer exist
        db.execute("DELETE FROM tags WHERE pmid NOT IN (SELECT pmid FROM articles)")
        db.execute("DELETE FROM study_labels WHERE pmid NOT IN (SELECT pmid FROM articles)")
        gone = db.execute("DELETE FROM studies WHERE pmid NOT IN (SELECT pmid FROM articles)").rowcount
    batches = ((_read_batch(db, pmids[start:start + BATCH]),) for start in range(0, len(pmids), BATCH))
    done = 0
    with worker_pool(workers, len(pmids) >= PARALLEL_MIN) as (pool, count):
        for pmids_done, tag_rows, study_rows in in_order(pool, _tag_articles, batches, 2 * count):
            _write_batch(db, pmids_done, tag_rows, study_rows)
            done += len(pmids_done)
            if on_progress:
                on_progress(done, len(pmids))
    if pmids or gone or summaries_behind(db.conn) or not db["evidence_map"].count:
        with db.atomic():
            link_records(db)
            refresh_summaries(db)
            refresh_bitmaps(db)
            record_tagger(db, tagger)
    return len(pmids)


def record_tagger(db: Database, tagger: Tagger):
    """The `tagger` row of this tagger: its version and the linear layer's description (all of
    the model file but the weights themselves)."""
    model = tagger.linear.description if tagger.linear else {}
    db.execute("INSERT OR REPLACE INTO tagger (version, tagged_at, model) VALUES (?, ?, ?)",
               [tagger.version, datetime.now(timezone.utc).isoformat(timespec="seconds"),
                json.dumps(model, ensure_ascii=False, sort_keys=True)])


def _read_batch(db: Database, pmids: list[int]) -> tuple[list, dict]:
    """The articles and, per PMID, their publication types, MeSH descriptors and keywords."""
    marks = ",".join("?" * len(pmids))
    indexed: dict[int, tuple[list, list, list]] = {}
    for slot, sql in enumerate((f"SELECT pmid, name FROM publication_types WHERE pmid IN ({marks})",
                                f"SELECT pmid, descriptor FROM mesh_headings WHERE pmid IN ({marks}) "
                                f"ORDER BY pmid, position",
                                f"SELECT pmid, keyword FROM keywords WHERE pmid IN ({marks})")):
        for pmid, term in db.execute(sql, pmids):
            indexed.setdefault(pmid, ([], [], []))[slot].append(term)
    articles = db.execute(f"SELECT pmid, title, abstract, year, pub_date, journal, is_retracted, correction_status "
                          f"FROM articles WHERE pmid IN ({marks})", pmids).fetchall()
    return articles, indexed


_TAGGER: Tagger | None = None


def _tag_articles(batch) -> tuple[list[int], list[tuple], list[tuple]]:
    tagger = _TAGGER
    articles, indexed = batch
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    pmids, tag_rows, study_rows = [], [], []
    for pmid, title, abstract, *article in articles:
        tagged = tagger.tag_record(title, abstract, *indexed.get(pmid, ((), (), ())))
        tag_rows += [(pmid, t.facet, t.value, t.source, t.matched, t.start, t.end, t.rule, tagger.version,
                      int(tagged.is_final(t))) for t in tagged.tags]
        row = _study(pmid, title, article, tagged, tagger.version, stamp)
        study_rows.append(tuple(row[column] for column in STUDY_COLUMNS))
        pmids.append(pmid)
    return pmids, tag_rows, study_rows


def _write_batch(db: Database, pmids: list[int], tag_rows: list[tuple], study_rows: list[tuple]):
    marks = ",".join("?" * len(pmids))
    with db.atomic():
        db.execute(f"DELETE FROM tags WHERE pmid IN ({marks})", pmids)
        db.execute(f"DELETE FROM study_labels WHERE pmid IN ({marks})", pmids)
        db.execute(f"DELETE FROM studies WHERE pmid IN ({marks})", pmids)
        db.conn.executemany(f"INSERT INTO tags ({', '.join(f'[{f}]' for f in TAG_FIELDS)}) "
                            f"VALUES ({', '.join('?' * len(TAG_FIELDS))})", tag_rows)
        db.conn.executemany(f"INSERT INTO studies ({', '.join(STUDY_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(STUDY_COLUMNS))})", study_rows)
        db.conn.executemany("INSERT OR IGNORE INTO study_labels (pmid, facet, label) VALUES (?, ?, ?)",
                            label_rows(study_rows))


def label_rows(study_rows: list[tuple]):
    """(pmid, facet, label) of every label in the studies rows' list columns."""
    positions = [(facet, list(STUDY_COLUMNS).index(facet)) for facet in LABELLED_COLUMNS]
    for row in study_rows:
        for facet, position in positions:
            for label in json.loads(row[position] or "[]"):
                yield row[0], facet, label


def _study(pmid, title, article, tagged: TaggedRecord, version, stamp) -> dict:
    """One `studies` row: the article columns to browse by, the tagger's (STUDY_COLUMNS_FROM_TAGS)
    and the bookkeeping."""
    year, pub_date, journal, is_retracted, correction_status = article
    return {
        "pmid": pmid, "title": title, "year": year, "pub_date": pub_date, "journal": journal,
        **{column.name: tagged.column(column) for column in STUDY_COLUMNS_FROM_TAGS},
        "is_retracted": is_retracted, "correction_status": correction_status, "tagger_version": version,
        "tagged_at": stamp, "duplicate_of": None,
    }
