"""The landing page's data: evidence map, newest strong evidence, yearly chart, provenance.

Everything comes from the small summary tables that `kaplit retag` rebuilds (db/summaries.py),
so the page costs a handful of indexed reads whatever the size of the database.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import PurePath
from urllib.parse import urlencode

from markupsafe import Markup, escape

from kaplit.db.summaries import ALL_STUDIES, LATEST_DESIGNS, SCOPES
from kaplit.pipeline.tagging.taxonomy import CERTAIN_DESIGNS, EVIDENCE_LEVEL
from kaplit.web.charts import year_chart

# Columns of the evidence map, strongest evidence first, with the short headings shown.
DESIGNS = {
    "Systematic review/meta-analysis": "Reviews & meta-analyses",
    "Randomized-controlled trial (RCT)": "RCTs",
    "Cohort study": "Cohort",
    "Real-world study": "Real-world",
    "Case series": "Case series",
    "Qualitative Study": "Qualitative",
    "Case report": "Case reports",
    "Study protocol": "Protocols",
    "Other": "Other",
}
assert set(DESIGNS) == set(EVIDENCE_LEVEL)
CHART_CONDITIONS = 6


SCOPE_NAMES = {"all": "All studies", "ketamine": "Any form of ketamine"}
assert set(SCOPE_NAMES) == set(SCOPES)


def studies_url(datasette, database: str, condition: str | None = None, design: str | None = None,
                scope: str = "all", certain: bool = True) -> str:
    """The studies table filtered to one cell of the evidence map (each study once), newest first:
    for a design of CERTAIN_DESIGNS, those whose design is certain, or with `certain` False, the others."""
    return datasette.urls.table(database, "studies") + "?" + cell_query(condition, design, scope, certain)


@lru_cache(maxsize=4096)
def cell_query(condition: str | None, design: str | None, scope: str, certain: bool) -> str:
    """(Remembered: a landing page links some three hundred cells, and urlencode took a third of
    its time.)"""
    params = {}
    if condition and condition != ALL_STUDIES:
        params["conditions__arraycontains"] = condition
    if design:
        params["design"] = design
        if design in CERTAIN_DESIGNS:
            params["design_certain"] = int(certain)
    if scope == "ketamine":
        params["ketamine"] = 1
    params["duplicate_of__isnull"] = 1
    params["_sort_desc"] = "pub_date"
    return urlencode(params)


async def landing_context(datasette, database, scope: str = "all") -> dict:
    db = datasette.get_database(database)
    cells = {(r["condition"], r["design"]): (r["studies"], r["uncertain"] or 0) for r in (await db.execute(
        "select condition, design, studies, uncertain from evidence_map where scope = ?", [scope])).rows}
    totals: dict[str, int] = {}
    for (condition, _), (n, uncertain) in cells.items():
        totals[condition] = totals.get(condition, 0) + n + uncertain
    conditions = sorted(totals, key=lambda c: (c != ALL_STUDIES, -totals[c], c))
    studies = datasette.urls.table(database, "studies")
    return {
        "designs": DESIGNS,
        "evidence_map": evidence_map_rows(studies, conditions, cells, scope),
        "scope": scope,
        "scopes": {name: ("?ketamine=1" if name == "ketamine" else "?") for name in SCOPES},
        "scope_names": SCOPE_NAMES,
        "coverage": await _coverage(db),
        "latest": await _latest(datasette, db, database, conditions),
        "chart": await _chart(db, conditions),
        "provenance": await _provenance(db),
        "search_url": datasette.urls.database(database) + "/search",
        "studies_url": studies_url(datasette, database),
        "feed_url": datasette.urls.database(database) + "/new_for_condition.atom",
        "database": database,
    }


def evidence_map_rows(studies: str, conditions: list[str], cells: dict, scope: str) -> Markup:
    """The evidence map's rows, written in Python (as web/table_rows.py writes a table's: through
    the async template, its three hundred links were a third of the page's time). A cell links
    the studies listed; beside it, "+N" the RCTs or reviews of a less certain design."""
    html = []

    def link(condition, design, certain=True) -> str:
        return escape(studies + "?" + cell_query(condition, design, scope, certain))

    for number, condition in enumerate(conditions):
        total = "" if number else ' class="total"'
        html.append(f'<tr{total}><th scope="row"><a href="{link(condition, None)}">{escape(condition)}</a></th>')
        for design in DESIGNS:
            count, uncertain = cells.get((condition, design), (0, 0))
            cell = f'<a href="{link(condition, design)}">{count:,}</a>' if count else '<span class="zero">–</span>'
            if uncertain:
                cell += (f' <a class="uncertain" href="{link(condition, design, False)}" '
                         f'title="{uncertain} more the tagger is less sure of">+{uncertain:,}</a>')
            html.append(f"<td>{cell}</td>")
        html.append("</tr>\n")
    return Markup("".join(html))


async def _latest(datasette, db, database, conditions) -> list[dict]:
    rows = (await db.execute(
        "select * from latest_evidence where rank <= 3 order by condition, design, rank")).rows
    by_condition: dict[str, dict[str, list]] = {}
    for row in rows:
        by_condition.setdefault(row["condition"], {}).setdefault(row["design"], []).append(dict(row))
    return [{"condition": c,
             "designs": [{"design": DESIGNS[d], "url": studies_url(datasette, database, c, d),
                          "studies": by_condition[c].get(d, [])} for d in LATEST_DESIGNS]}
            for c in conditions if c in by_condition]


async def _chart(db, conditions):
    shown = [c for c in conditions if c != ALL_STUDIES][:CHART_CONDITIONS]
    series: dict[str, dict[int, int]] = {c: {} for c in shown}
    marks = ",".join("?" * len(shown))
    for row in (await db.execute(
            f"select condition, year, studies from condition_years where condition in ({marks})", shown)).rows:
        series[row["condition"]][row["year"]] = row["studies"]
    return year_chart(series)


async def _coverage(db) -> dict:
    """How many records carry each field the site's claims rest on (db/summaries.COVERAGE)."""
    return {r["field"]: r["records"] for r in (await db.execute("select field, records from coverage")).rows}


async def _provenance(db) -> dict:
    run = [{**dict(r), "source": _source_name(r["source"])} for r in (await db.execute(
        "select kind, source, query, finished_at from crawl_runs where status != 'failed' "
        "order by id desc limit 1")).rows]
    # the tagger of the last re-tag (its `tagger` row), which every study carries after it
    versions = (await db.execute("select version from tagger order by tagged_at desc limit 1")).rows
    update = (await db.execute(
        "select u.release, u.finished_at, u.added, u.revised, p.finished_at as since from updates u "
        "left join updates p on p.release = u.previous order by u.finished_at desc limit 1")).rows
    return {
        "latest_update": dict(update[0]) if update else None,
        "records": (await db.execute("select count(*) from studies")).rows[0][0],
        "run": dict(run[0]) if run else None,
        "tagger_versions": ", ".join(r[0] for r in versions if r[0]),
    }


def _source_name(source: str | None) -> str | None:
    """A run's source as a visitor may see it: "snapshot", file names or a URL, never a server path."""
    if not source or "://" in source:
        return source
    if source.startswith("snapshot:"):
        return "snapshot"
    return " ".join(PurePath(path).name for path in source.split())
