"""Summary tables behind the landing page, rebuilt from `studies` after every re-tag.

Precomputed because the landing page must stay as fast as a static page at any database size.
Conditions are counted from the indexed `study_labels`, not the JSON lists of `studies`.
"""

from __future__ import annotations

from sqlite_utils import Database

ALL_STUDIES = "All studies"  # the evidence map's and the chart's total row
# the evidence map's scopes: every study, or the studies of any form of ketamine
SCOPES = {"all": "1", "ketamine": "s.ketamine = 1"}
COUNTED_ONCE = "s.duplicate_of IS NULL"  # a republished or duplicate record is the same study
LATEST_DESIGNS = ("Systematic review/meta-analysis", "Randomized-controlled trial (RCT)")
LATEST_PER_CELL = 5

LISTED = "s.design_certain IS NOT 0"  # a design the lists present as fact (Tagger.design_certain)
_CELL = f"sum({LISTED}), coalesce(sum(s.design_certain = 0), 0)"  # a cell's studies listed, and held back
_EVIDENCE_MAP = f"""
INSERT INTO evidence_map (scope, condition, design, studies, uncertain)
SELECT :scope, c.label, s.design, {_CELL} FROM study_labels c JOIN studies s ON s.pmid = c.pmid
WHERE c.facet = 'conditions' AND s.design IS NOT NULL AND {COUNTED_ONCE} AND {{scope}} GROUP BY c.label, s.design
UNION ALL
SELECT :scope, :all, s.design, {_CELL} FROM studies s
WHERE s.design IS NOT NULL AND {COUNTED_ONCE} AND {{scope}} GROUP BY s.design
"""

_CONDITION_YEARS = f"""
INSERT INTO condition_years (condition, year, studies)
SELECT c.label, s.year, count(*) FROM study_labels c JOIN studies s ON s.pmid = c.pmid
WHERE c.facet = 'conditions' AND s.year IS NOT NULL AND {COUNTED_ONCE} GROUP BY c.label, s.year
UNION ALL
SELECT :all, s.year, count(*) FROM studies s WHERE s.year IS NOT NULL AND {COUNTED_ONCE} GROUP BY s.year
"""

_LATEST_EVIDENCE = f"""
INSERT INTO latest_evidence (condition, design, rank, pmid, title, year, journal, correction_status)
SELECT condition, design, rank, pmid, title, year, journal, correction_status FROM (
  SELECT c.label AS condition, s.design, s.pmid, s.title, s.year, s.journal, s.correction_status,
         row_number() OVER (PARTITION BY c.label, s.design ORDER BY s.pub_date DESC, s.pmid DESC) AS rank
  FROM study_labels c JOIN studies s ON s.pmid = c.pmid
  WHERE c.facet = 'conditions' AND s.design IN ({", ".join("?" * len(LATEST_DESIGNS))}) AND {COUNTED_ONCE}
    AND {LISTED}
) WHERE rank <= {LATEST_PER_CELL}
"""


# what the site's claims rest on, and how to count the records that have it
COVERAGE = {
    "records": "SELECT count(*) FROM articles",
    "abstract": "SELECT count(*) FROM articles WHERE abstract IS NOT NULL",
    "publication date": "SELECT count(*) FROM articles WHERE pub_date IS NOT NULL",
    "publication types": "SELECT count(DISTINCT pmid) FROM publication_types",
    "MeSH headings": "SELECT count(DISTINCT pmid) FROM mesh_headings",
    "date entered PubMed": "SELECT count(*) FROM articles WHERE entrez_date IS NOT NULL",
    "date revised": "SELECT count(*) FROM articles WHERE date_revised IS NOT NULL",
    "retraction and correction links": "SELECT count(DISTINCT pmid) FROM comments_corrections",
    "flagged by a notice": "SELECT count(DISTINCT target_pmid) FROM notice_links",
}


# the columns the site counts on a table's unfiltered page (metadata.yml: `counts` facets), counted
# here because a count over every row of a large table takes seconds at a million records
COLUMN_COUNTS = {
    "articles": ("year", "journal", "is_retracted", "correction_status", "record_type", "language"),
    "mesh_headings": ("descriptor", "major_topic"),
    "publication_types": ("name",),
    "grants": ("agency", "country"),
    "trial_registrations": ("databank", "source"),
    "comments_corrections": ("ref_type",),
    "study_labels": ("facet",),
    "tags": ("facet", "value", "source"),
}


def refresh_column_counts(db: Database):
    """Rebuild `column_counts` (inside the caller's transaction)."""
    db.execute("DELETE FROM column_counts")
    for table, columns in COLUMN_COUNTS.items():
        for column in columns:
            db.execute(f"INSERT INTO column_counts (table_name, column_name, value, count) "
                       f"SELECT ?, ?, [{column}], count(*) FROM [{table}] GROUP BY [{column}]", [table, column])


def summaries_behind(conn) -> bool:
    """Records were stored or removed after the summaries were last rebuilt (at the last retag):
    until the next retag, they describe the database as it was then."""
    stored, finished, summarised = conn.execute(
        "SELECT (SELECT max(ingested_at) FROM articles), (SELECT max(finished_at) FROM crawl_runs), "
        "(SELECT max(tagged_at) FROM tagger)").fetchone()
    return summarised is None or max(stored or "", finished or "") >= summarised  # seconds: the same counts


def stale_column_counts(conn) -> list[str]:
    """The (table, column) pairs whose `column_counts` differ from the table's rows."""
    stale = []
    for table, columns in COLUMN_COUNTS.items():
        for column in columns:
            stored = set(conn.execute("SELECT value, count FROM column_counts WHERE table_name = ? AND "
                                      "column_name = ?", [table, column]))
            if stored != set(conn.execute(f"SELECT [{column}], count(*) FROM [{table}] GROUP BY [{column}]")):
                stale.append(f"{table}.{column}")
    return stale


def refresh_summaries(db: Database):
    """Rebuild the summary tables (call inside the transaction that changed `studies`)."""
    refresh_column_counts(db)
    for table in ("evidence_map", "condition_years", "latest_evidence", "coverage"):
        db.execute(f"DELETE FROM {table}")
    for field, sql in COVERAGE.items():
        db.execute("INSERT INTO coverage (field, records) VALUES (?, ?)", [field, db.execute(sql).fetchone()[0]])
    for scope, condition in SCOPES.items():
        db.execute(_EVIDENCE_MAP.format(scope=condition), {"all": ALL_STUDIES, "scope": scope})
    db.execute(_CONDITION_YEARS, {"all": ALL_STUDIES})
    db.execute(_LATEST_EVIDENCE, LATEST_DESIGNS)
