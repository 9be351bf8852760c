"""The kaplit database schema, applied as sqlite-utils migrations.

`articles` has one row per PubMed record (PMID primary key). Every other article table is a child
keyed by `pmid` (foreign key to `articles`) and is replaced whole when a record is revised.
`articles_fts` (FTS5, porter stemming) indexes title, abstract, keywords and MeSH and is kept in
sync by triggers.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database, Migrations
from sqlite_utils.db import ForeignKey

from kaplit.pipeline.tagging.taxonomy import STUDY_COLUMNS_FROM_TAGS

migrations = Migrations("kaplit")

ARTICLE_COLUMNS = {
    "pmid": int,
    "record_type": str,
    "title": str,
    "title_html": str,
    "vernacular_title": str,
    "abstract": str,
    "authors": str,
    "first_author": str,
    "journal": str,
    "journal_iso": str,
    "issn": str,
    "volume": str,
    "issue": str,
    "pages": str,
    "year": int,
    "pub_date": str,
    "pub_date_text": str,
    "article_date": str,
    "entrez_date": str,
    "language": str,
    "doi": str,
    "pmcid": str,
    "nct_ids": str,
    "publication_types_text": str,
    "mesh_text": str,
    "keywords_text": str,
    "is_retracted": int,
    "correction_status": str,
    "book_title": str,
    "publisher": str,
    "coi_statement": str,
    "copyright": str,
    "status": str,
    "publication_status": str,
    "date_completed": str,
    "date_revised": str,
    "country": str,
    "content_hash": str,
    "source_file": str,  # these two are set by the writer (db/staging.py), so they stay last
    "ingested_at": str,
}
AUTHOR_COLUMNS = {
    "id": str, "display_name": str, "last_name": str, "fore_name": str, "initials": str,
    "suffix": str, "collective_name": str, "orcid": str,
}
FTS_COLUMNS = ["title", "abstract", "keywords_text", "mesh_text"]

#: child table → (columns besides pmid, primary key, extra foreign keys)
CHILD_TABLES = {
    "abstract_sections": (
        {"position": int, "label": str, "nlm_category": str, "text": str, "html": str},
        ("pmid", "position"),
    ),
    "article_authors": (
        {"position": int, "author_id": str, "affiliations": str, "equal_contrib": int,
         **{column: str for column in AUTHOR_COLUMNS if column != "id"}},  # the name as the record gives it
        ("pmid", "position"),
    ),
    "mesh_headings": (
        {"position": int, "descriptor": str, "descriptor_ui": str, "major_topic": int,
         "qualifiers": str, "heading": str},
        ("pmid", "position"),
    ),
    "publication_types": ({"name": str, "ui": str}, ("pmid", "name")),
    "keywords": ({"keyword": str, "owner": str, "major_topic": int}, ("pmid", "keyword")),
    "chemicals": ({"position": int, "name": str, "ui": str, "registry_number": str}, ("pmid", "position")),
    "grants": (
        {"position": int, "grant_id": str, "acronym": str, "agency": str, "country": str},
        ("pmid", "position"),
    ),
    "trial_registrations": (
        {"databank": str, "accession": str, "is_trial_registration": int, "source": str, "url": str},
        ("pmid", "databank", "accession"),
    ),
    "comments_corrections": (
        {"position": int, "ref_type": str, "ref_pmid": int, "ref_source": str, "note": str},
        ("pmid", "position"),
    ),
}

CHILD_INDEXES = {
    "mesh_headings": [["descriptor"]],
    "publication_types": [["name"]],
    "keywords": [["keyword"]],
    "article_authors": [["author_id"]],
    "trial_registrations": [["accession"]],
    "comments_corrections": [["ref_type"], ["ref_pmid"]],
    "chemicals": [["name"]],
}


@migrations()
def m001_initial(db: Database):
    articles = db["articles"].create(ARTICLE_COLUMNS, pk="pmid", not_null={"pmid"})
    for columns in (["year"], ["pub_date"], ["journal"], ["doi"]):
        articles.create_index(columns)
    db["authors"].create(AUTHOR_COLUMNS, pk="id")
    db["authors"].create_index(["display_name"])
    for name, (columns, pk) in CHILD_TABLES.items():
        if name == "article_authors":  # as it was made: m007 adds the record's names
            columns = {"position": int, "author_id": str, "affiliations": str, "equal_contrib": int}
        foreign_keys = [ForeignKey(name, "pmid", "articles", "pmid")]
        if name == "article_authors":
            foreign_keys.append(ForeignKey(name, "author_id", "authors", "id"))
        # every primary key starts with pmid, so lookups by pmid need no index of their own
        db[name].create({"pmid": int, **columns}, pk=pk, foreign_keys=foreign_keys)
        for index in CHILD_INDEXES.get(name, []):
            db[name].create_index(index)
    db["deleted_citations"].create(
        {"pmid": int, "deleted_at": str, "source_file": str}, pk="pmid"
    )
    db["crawl_runs"].create(
        {"id": int, "kind": str, "started_at": str, "finished_at": str, "source": str,
         "query": str, "mindate": str, "maxdate": str, "status": str, "files": int,
         "records_seen": int, "added": int, "updated": int, "unchanged": int, "older_skipped": int,
         "deleted": int, "rejected": int, "requests": int, "retries": int,
         "software_version": str, "notes": str},
        pk="id",
    )
    articles.enable_fts(FTS_COLUMNS, create_triggers=True, tokenize="porter")


@migrations()
def m002_tags(db: Database):
    tags = db["tags"].create(
        {"id": int, "pmid": int, "facet": str, "value": str, "source": str, "matched": str,
         "start": int, "end": int, "rule": str, "tagger_version": str},
        pk="id", foreign_keys=[ForeignKey("tags", "pmid", "articles", "pmid")],
    )
    tags.create_index(["pmid"])
    tags.create_index(["facet", "value"])
    db["study_tags"].create(
        {"pmid": int, "conditions": str, "design": str, "evidence_level": int, "routes": str,
         "substances": str, "kap": int, "age_groups": str, "trial_phase": str, "controls": str,
         "participants": str, "tagger_version": str, "tagged_at": str},
        pk="pmid", foreign_keys=[ForeignKey("study_tags", "pmid", "articles", "pmid")],
    )
    for column in ("design", "evidence_level", "kap", "trial_phase", "participants"):
        db["study_tags"].create_index([column])


# `studies` as it stands after every migration: the article columns to browse by, the tagger's
# (declared once, in pipeline/tagging/taxonomy.py) and bookkeeping. Migrations spell their own.
STUDY_COLUMNS = {
    "pmid": int, "title": str, "year": int, "pub_date": str, "journal": str,
    **{column.name: column.kind for column in STUDY_COLUMNS_FROM_TAGS},
    "is_retracted": int, "correction_status": str, "tagger_version": str, "tagged_at": str, "duplicate_of": int,
}


@migrations()
def m003_studies(db: Database):
    """`studies` replaces `study_tags`: the tag summary plus the article columns a clinician
    browses and facets by, in one narrow table, so that the site's facet and list pages need no
    join; and three small summary tables for the landing page, rebuilt after every re-tag."""
    db["study_tags"].drop()
    studies = db["studies"].create(
        {"pmid": int, "title": str, "year": int, "pub_date": str, "journal": str,
         "design": str, "evidence_level": int, "conditions": str, "routes": str, "substances": str,
         "kap": int, "age_groups": str, "trial_phase": str, "controls": str, "participants": str,
         "is_retracted": int, "correction_status": str, "tagger_version": str, "tagged_at": str},
        pk="pmid", foreign_keys=[ForeignKey("studies", "pmid", "articles", "pmid")])
    for column in ("pub_date", "year", "journal", "design", "evidence_level", "kap", "trial_phase",
                   "participants", "is_retracted", "tagger_version"):
        studies.create_index([column])
    db["evidence_map"].create({"condition": str, "design": str, "studies": int}, pk=("condition", "design"))
    db["condition_years"].create({"condition": str, "year": int, "studies": int}, pk=("condition", "year"))
    db["latest_evidence"].create(
        {"condition": str, "design": str, "rank": int, "pmid": int, "title": str, "year": int,
         "journal": str, "correction_status": str},
        pk=("condition", "design", "rank"))


@migrations()
def m004_study_details(db: Database):
    """`studies.details`: the finer values a clinician browses by (treatment-resistant depression,
    open-label, ...: pipeline.taxonomy.DETAILS). A database made before it gets the column; the
    next re-tag fills it (the tagger's version changed with it)."""
    if "details" not in db["studies"].columns_dict:
        db["studies"].add_column("details", str)


@migrations()
def m005_participant_count(db: Database):
    """`studies.participant_count`: how many people the abstract counts (pipeline/tagging/counts.py), to
    sort and filter by sample size beside the binned `participants`. A database made before it
    gets the column; the next re-tag fills it (the tagger's version changed with it)."""
    if "participant_count" not in db["studies"].columns_dict:
        db["studies"].add_column("participant_count", int)
    db["studies"].create_index(["participant_count"], if_not_exists=True)


@migrations()
def m006_paths_people_take(db: Database):
    """What clinicians filter and count by: `studies.ketamine` (any form of ketamine),
    `studies.psychotherapy` (psychotherapy with any substance; `kap` keeps it for ketamine's),
    `studies.duplicate_of` (a republished or duplicate record, counted once); `tags.final` (the
    tag made it into the study's labels); `evidence_map.scope` (all studies, or ketamine's); and
    `notice_links` (a retraction or correction notice and the article it names); `coverage` (how
    many records carry each field the site's claims rest on). The next re-tag
    fills them (the tagger's version changed with them)."""
    studies = db["studies"]
    for column in ("ketamine", "psychotherapy", "duplicate_of"):
        if column not in studies.columns_dict:
            studies.add_column(column, int)
        studies.create_index([column], if_not_exists=True)
    if "final" not in db["tags"].columns_dict:
        db["tags"].add_column("final", int)
    db["evidence_map"].drop()
    db["evidence_map"].create({"scope": str, "condition": str, "design": str, "studies": int},
                              pk=("scope", "condition", "design"))
    db["notice_links"].create(
        {"notice_pmid": int, "target_pmid": int, "kind": str, "basis": str},
        pk=("notice_pmid", "target_pmid"), if_not_exists=True)
    db["notice_links"].create_index(["target_pmid"], if_not_exists=True)
    db["coverage"].create({"field": str, "records": int}, pk="field", if_not_exists=True)


AUTHOR_CONFLICTS_VIEW = """
CREATE VIEW IF NOT EXISTS author_conflicts AS
SELECT orcid, count(DISTINCT lower(coalesce(last_name, collective_name))) AS names,
       group_concat(DISTINCT display_name) AS spelled, group_concat(pmid) AS pmids
FROM article_authors WHERE orcid IS NOT NULL
GROUP BY orcid HAVING count(DISTINCT lower(coalesce(last_name, collective_name))) > 1
"""


@migrations()
def m007_authorship_names(db: Database):
    """Each authorship keeps the name its record gives (`article_authors.last_name`, ...): the
    `authors` row of an ORCID is a reversible link, and one ORCID given to two people by mistake
    renamed one of them. A database made before gets the columns filled from `authors` (as it
    showed them) and its articles with ORCID authors lose their content hash, so that the next
    ingest of their files writes them again with their own names. `author_conflicts` lists an
    ORCID that records give to differently named people."""
    columns = db["article_authors"].columns_dict
    missing = [c for c in AUTHOR_COLUMNS if c != "id" and c not in columns]
    for column in missing:
        db["article_authors"].add_column(column, str)
    if missing:
        names = ", ".join(missing)
        db.execute(f"UPDATE article_authors SET ({names}) = (SELECT {names} FROM authors WHERE id = author_id)")
        db.execute("UPDATE articles SET content_hash = NULL WHERE pmid IN "
                   "(SELECT pmid FROM article_authors WHERE author_id LIKE 'orcid:%')")
    db.execute(AUTHOR_CONFLICTS_VIEW)


@migrations()
def m008_tagger(db: Database):
    """`tagger`: the tagger that tagged this database (version, which labels each layer decides,
    the cross-validated scores with their ranges, what it was trained on), written at every
    re-tag; /taxonomy and the article pages describe the served database's tagger from it, not
    whatever tagger is installed."""
    db["tagger"].create({"version": str, "tagged_at": str, "model": str}, pk="version", if_not_exists=True)


@migrations()
def m009_crawl_fetched(db: Database):
    """`crawl_fetched`: the PMIDs each batch of a crawl stored, by the crawl's plan (query and date
    windows), written with the batch; a finished crawl clears its plan's rows. A killed crawl
    started again with the same plan skips them; a later crawl skips nothing (a record revised on
    the day of the last crawl is fetched again)."""
    db["crawl_fetched"].create({"plan": str, "pmid": int}, pk=("plan", "pmid"), if_not_exists=True)


@migrations()
def m010_study_labels(db: Database):
    """`study_labels`: one row per (study, list column, label), the JSON lists of `studies`
    (conditions, routes, substances, age groups, controls, details) normalized, so that a filter
    or a count by label is an index lookup instead of unpacking every study's JSON. Its primary
    key is the index by (facet, label, pmid); a second index finds a study's rows. The next
    re-tag fills it (the tagger's version changed with it)."""
    db.execute("CREATE TABLE IF NOT EXISTS study_labels (pmid INTEGER NOT NULL REFERENCES studies(pmid), "
               "facet TEXT NOT NULL, label TEXT NOT NULL, PRIMARY KEY (facet, label, pmid)) WITHOUT ROWID")
    db.execute("CREATE INDEX IF NOT EXISTS study_labels_pmid ON study_labels (pmid)")


@migrations()
def m011_study_bitmaps(db: Database):
    """`study_bitmaps`: per facet column and value, the set of its studies as a serialized roaring
    bitmap of PMIDs (db/bitmaps.py), so that a served page counts its facets in memory. Filled
    by m013 from what the database holds, and rebuilt at every re-tag."""
    db.execute("CREATE TABLE IF NOT EXISTS study_bitmaps (facet TEXT NOT NULL, value, studies INTEGER NOT NULL, "
               "bitmap BLOB NOT NULL)")


@migrations()
def m012_column_counts(db: Database):
    """`column_counts`: the count of each value of the columns the site counts on unfiltered
    pages of large tables (db/summaries.py: COLUMN_COUNTS), rebuilt with the other summaries."""
    from kaplit.db.summaries import refresh_column_counts  # it names tables of this module

    db.execute("CREATE TABLE IF NOT EXISTS column_counts (table_name TEXT NOT NULL, column_name TEXT NOT NULL, "
               "value, count INTEGER NOT NULL)")
    refresh_column_counts(db)


@migrations()
def m013_label_facet_counts(db: Database):
    """`label_facet_counts`: for each single-label filter (a label of a list column, or a design),
    the count of every value of every facet column among its studies (db/bitmaps.py), rebuilt
    with the bitmaps: "PTSD studies by design" is one indexed lookup at any size. Fills both."""
    from kaplit.db.bitmaps import refresh_bitmaps  # it reads STUDY_COLUMNS of this module

    db.execute("CREATE TABLE IF NOT EXISTS label_facet_counts (facet TEXT NOT NULL, label TEXT NOT NULL, "
               "counted TEXT NOT NULL, value, studies INTEGER NOT NULL)")
    db.execute("CREATE INDEX IF NOT EXISTS label_facet_counts_filter ON label_facet_counts (facet, label, counted)")
    refresh_bitmaps(db)


@migrations()
def m014_updates(db: Database):
    """`updates`: one row per release an update made (what it added, revised, deleted and
    re-tagged, from what, with which software); `release_changes`: the PMIDs of each."""
    db.execute("CREATE TABLE IF NOT EXISTS updates (release TEXT PRIMARY KEY, previous TEXT, started_at TEXT, "
               "finished_at TEXT, source TEXT, crawl_window TEXT, added INTEGER, revised INTEGER, "
               "deleted INTEGER, retagged INTEGER, software_version TEXT, tagger_version TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS release_changes (release TEXT NOT NULL REFERENCES updates(release), "
               "pmid INTEGER NOT NULL, change TEXT NOT NULL, PRIMARY KEY (release, pmid))")


@migrations()
def m015_studies_newest_first(db: Database):
    """The studies newest first with the PMID as tie-breaker, as every studies page is ordered:
    `(pub_date)` alone lists a date's studies by PMID the other way round, so SQLite sorted each
    date's studies (about 1,250 of them at 1,000,000) before it could stop after a page."""
    db.execute("CREATE INDEX IF NOT EXISTS studies_newest ON studies (pub_date DESC, pmid)")


@migrations()
def m016_design_certain(db: Database):
    """`studies.design_certain`: whether an RCT's or a systematic review's design is certain enough
    for the lists that present it as fact (Tagger.design_certain); `evidence_map.uncertain`: the
    studies of a cell held back for want of it. The next re-tag fills them (the tagger's version
    changed with them)."""
    from kaplit.db.bitmaps import refresh_bitmaps  # it reads STUDY_COLUMNS of this module

    if "design_certain" not in db["studies"].columns_dict:
        db["studies"].add_column("design_certain", int)
    if "uncertain" not in db["evidence_map"].columns_dict:
        db["evidence_map"].add_column("uncertain", int)
    refresh_bitmaps(db)


def pending_migrations(path) -> list[str] | None:
    """The schema changes a database file still lacks, or None for a file kaplit did not make
    (read-only: for `kaplit serve`, which must not write the file it serves)."""
    db = Database(sqlite3.connect(f"file:{path}?mode=ro", uri=True))
    try:
        if not db[migrations.migrations_table].exists():
            return None
        return [m.name for m in migrations.pending(db)]
    finally:
        db.close()


def open_db(path, create: bool = True) -> Database:
    """Open (and bring up to date) a kaplit database.

    Foreign keys are declared (Datasette links rows by them) but not enforced on this
    connection: the writer inserts an article and its child rows in one transaction, and
    enforcement made bulk child inserts up to twice as slow in a measurement.
    `PRAGMA foreign_key_check` verifies them instead (tests/test_ingest.py).
    """
    db = Database(path)
    if create:
        migrations.apply(db)
    return db
