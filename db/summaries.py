"""Summary tables behind the landing page, rebuilt from `studies` after every re-tag.

Precomputed because the landing page must stay as fast as a static page at any database size,
and because conditions are JSON lists that a per-request GROUP BY would have to unpack.
"""

from __future__ import annotations

from sqlite_utils import Database

ALL_STUDIES = "All studies"  # the evidence map's and the chart's total row
LATEST_DESIGNS = ("Systematic review/meta-analysis", "Randomized-controlled trial (RCT)")
LATEST_PER_CELL = 5

_EVIDENCE_MAP = """
INSERT INTO evidence_map (condition, design, studies)
SELECT c.value, s.design, count(*) FROM studies s, json_each(s.conditions) c
WHERE s.design IS NOT NULL GROUP BY c.value, s.design
UNION ALL
SELECT :all, design, count(*) FROM studies WHERE design IS NOT NULL GROUP BY design
"""

_CONDITION_YEARS = """
INSERT INTO condition_years (condition, year, studies)
SELECT c.value, s.year, count(*) FROM studies s, json_each(s.conditions) c
WHERE s.year IS NOT NULL GROUP BY c.value, s.year
UNION ALL
SELECT :all, year, count(*) FROM studies WHERE year IS NOT NULL GROUP BY year
"""

_LATEST_EVIDENCE = f"""
INSERT INTO latest_evidence (condition, design, rank, pmid, title, year, journal, correction_status)
SELECT condition, design, rank, pmid, title, year, journal, correction_status FROM (
  SELECT c.value AS condition, s.design, s.pmid, s.title, s.year, s.journal, s.correction_status,
         row_number() OVER (PARTITION BY c.value, s.design ORDER BY s.pub_date DESC, s.pmid DESC) AS rank
  FROM studies s, json_each(s.conditions) c
  WHERE s.design IN ({", ".join("?" * len(LATEST_DESIGNS))})
) WHERE rank <= {LATEST_PER_CELL}
"""


def refresh_summaries(db: Database):
    """Rebuild the summary tables (call inside the transaction that changed `studies`)."""
    for table in ("evidence_map", "condition_years", "latest_evidence"):
        db.execute(f"DELETE FROM {table}")
    db.execute(_EVIDENCE_MAP, {"all": ALL_STUDIES})
    db.execute(_CONDITION_YEARS, {"all": ALL_STUDIES})
    db.execute(_LATEST_EVIDENCE, LATEST_DESIGNS)
