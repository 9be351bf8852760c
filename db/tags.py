"""Tagging stored articles: `tags` keeps every tag with its evidence, `study_tags` one row per
article with the gold-style labels for browsing (JSON arrays where an article can have several).

Each batch is replaced whole in one transaction, so a re-tag never leaves stale tags behind.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlite_utils import Database

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
        f"SELECT a.pmid FROM articles a LEFT JOIN study_tags s ON s.pmid = a.pmid {stale} ORDER BY a.pmid",
        {"version": tagger.version})]
    with db.atomic():  # tags of articles that no longer exist
        db.execute("DELETE FROM tags WHERE pmid NOT IN (SELECT pmid FROM articles)")
        db.execute("DELETE FROM study_tags WHERE pmid NOT IN (SELECT pmid FROM articles)")
    for start in range(0, len(pmids), BATCH):
        _tag_batch(db, tagger, pmids[start:start + BATCH])
        if on_progress:
            on_progress(min(start + BATCH, len(pmids)), len(pmids))
    return len(pmids)


def _tag_batch(db: Database, tagger: Tagger, pmids: list[int]):
    marks = ",".join("?" * len(pmids))
    types: dict[int, list[str]] = {}
    for pmid, name in db.execute(f"SELECT pmid, name FROM publication_types WHERE pmid IN ({marks})", pmids):
        types.setdefault(pmid, []).append(name)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    tag_rows, summary_rows = [], []
    for pmid, title, abstract in db.execute(
            f"SELECT pmid, title, abstract FROM articles WHERE pmid IN ({marks})", pmids).fetchall():
        tags, labels = tag_record(tagger, title, abstract, types.get(pmid, ()))
        tag_rows += [(pmid, t.facet, t.value, t.source, t.matched, t.start, t.end, t.rule, tagger.version)
                     for t in tags]
        summary_rows.append(_summary(pmid, tags, labels, tagger.version, stamp))
    with db.atomic():
        db.execute(f"DELETE FROM tags WHERE pmid IN ({marks})", pmids)
        db.execute(f"DELETE FROM study_tags WHERE pmid IN ({marks})", pmids)
        db.conn.executemany(f"INSERT INTO tags ({', '.join(f'[{f}]' for f in TAG_FIELDS)}) "
                            f"VALUES ({', '.join('?' * len(TAG_FIELDS))})", tag_rows)
        db.conn.executemany(f"INSERT INTO study_tags VALUES ({', '.join('?' * 13)})", summary_rows)


def _summary(pmid, tags, labels, version, stamp) -> tuple:
    level = next((int(t.value) for t in tags if t.facet == "evidence_level"), None)
    kap = int(any(t.facet == "kap" for t in tags))
    as_json = lambda task: json.dumps(labels[task], ensure_ascii=False)  # noqa: E731
    return (pmid, as_json("condition"), (labels["study_type"] or [None])[0], level, as_json("application_form"),
            as_json("substances"), kap, as_json("age_of_participants"),
            (labels["clinical_trial_phase"] or [None])[0], as_json("study_control"),
            (labels["number_of_participants"] or [None])[0], version, stamp)
