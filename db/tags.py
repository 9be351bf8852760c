"""Tagging stored articles: `tags` keeps every tag with its evidence, `studies` one row per
article with the gold-style labels and the article columns clinicians browse by (JSON arrays
where an article can have several values).

Each batch is replaced whole in one transaction, so a re-tag never leaves stale tags behind;
the landing page's summary tables are rebuilt after every re-tag that changed anything.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlite_utils import Database

from db.schema import STUDY_COLUMNS
from db.summaries import refresh_summaries
from pipeline.tagger import Tagger

BATCH = 1000
TAG_FIELDS = ("pmid", "facet", "value", "source", "matched", "start", "end", "rule", "tagger_version")


def tag_record(tagger: Tagger, title, abstract, publication_types=()):
    tags = tagger.tag(title, abstract, publication_types=publication_types)
    labels = tagger.labels(tags)
    return tags + tagger.derived_tags(tags, labels), labels


def retag(db: Database, everything: bool = False, on_progress=None) -> int:
    """Tag articles whose tags are missing or out of date (all of them with `everything`)."""
    tagger = Tagger()
    stale = "" if everything else (
        "WHERE s.pmid IS NULL OR s.tagger_version != :version OR s.tagged_at < a.ingested_at")
    pmids = [r[0] for r in db.execute(
        f"SELECT a.pmid FROM articles a LEFT JOIN studies s ON s.pmid = a.pmid {stale} ORDER BY a.pmid",
        {"version": tagger.version})]
    with db.atomic():  # tags of articles that no longer exist
        db.execute("DELETE FROM tags WHERE pmid NOT IN (SELECT pmid FROM articles)")
        gone = db.execute("DELETE FROM studies WHERE pmid NOT IN (SELECT pmid FROM articles)").rowcount
    for start in range(0, len(pmids), BATCH):
        _tag_batch(db, tagger, pmids[start:start + BATCH])
        if on_progress:
            on_progress(min(start + BATCH, len(pmids)), len(pmids))
    if pmids or gone or not db["evidence_map"].count:
        with db.atomic():
            refresh_summaries(db)
    return len(pmids)


def _tag_batch(db: Database, tagger: Tagger, pmids: list[int]):
    marks = ",".join("?" * len(pmids))
    types: dict[int, list[str]] = {}
    for pmid, name in db.execute(f"SELECT pmid, name FROM publication_types WHERE pmid IN ({marks})", pmids):
        types.setdefault(pmid, []).append(name)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tag_rows, study_rows = [], []
    for pmid, title, abstract, *article in db.execute(
            f"SELECT pmid, title, abstract, year, pub_date, journal, is_retracted, correction_status "
            f"FROM articles WHERE pmid IN ({marks})", pmids).fetchall():
        tags, labels = tag_record(tagger, title, abstract, types.get(pmid, ()))
        tag_rows += [(pmid, t.facet, t.value, t.source, t.matched, t.start, t.end, t.rule, tagger.version)
                     for t in tags]
        study_rows.append(_study(pmid, title, article, tags, labels, tagger.version, stamp))
    with db.atomic():
        db.execute(f"DELETE FROM tags WHERE pmid IN ({marks})", pmids)
        db.execute(f"DELETE FROM studies WHERE pmid IN ({marks})", pmids)
        db.conn.executemany(f"INSERT INTO tags ({', '.join(f'[{f}]' for f in TAG_FIELDS)}) "
                            f"VALUES ({', '.join('?' * len(TAG_FIELDS))})", tag_rows)
        db.conn.executemany(f"INSERT INTO studies ({', '.join(STUDY_COLUMNS)}) "
                            f"VALUES ({', '.join('?' * len(STUDY_COLUMNS))})", study_rows)


def _study(pmid, title, article, tags, labels, version, stamp) -> tuple:
    """One `studies` row, in STUDY_COLUMNS order."""
    year, pub_date, journal, is_retracted, correction_status = article
    level = next((int(t.value) for t in tags if t.facet == "evidence_level"), None)
    kap = int(any(t.facet == "kap" for t in tags))
    as_json = lambda task: json.dumps(labels[task], ensure_ascii=False)  # noqa: E731
    first = lambda task: (labels[task] or [None])[0]  # noqa: E731
    return (pmid, title, year, pub_date, journal, first("study_type"), level, as_json("condition"),
            as_json("application_form"), as_json("substances"), kap, as_json("age_of_participants"),
            first("clinical_trial_phase"), as_json("study_control"), first("number_of_participants"),
            is_retracted, correction_status, version, stamp)
