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
from kaplit.web.urls import article_url

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


@lru_cache(maxsize=4096)
def cell_query(condition: str | None, design: str | None, scope: str, certain: bool) -> str:
    """The query string of the studies table filtered to one cell of the evidence map (each study
    once), newest first: for a design of CERTAIN_DESIGNS, those whose design is certain, or with
    `certain` False, the others. (Remembered: a landing page links some three hundred cells, and
    urlencode took a third of its time.)"""
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
    """What the landing page shows; for a served (immutable) file made once per scope."""
    db = datasette.get_database(database)
    return dict(await db.kept(("landing", scope), lambda: _landing_context(datasette, db, database, scope)))


async def _landing_context(datasette, db, database: str, scope: str) -> dict:
    cells = {(r["condition"], r["design"]): (r["studies"], r["uncertain"] or 0) for r in (await db.execute(
        "select condition, design, studies, uncertain from evidence_map where scope = ?", [scope])).rows}
    totals: dict[str, int] = {}
    for (condition, _), (n, uncertain) in cells.items():
        totals[condition] = totals.get(condition, 0) + n + uncertain
    conditions = sorted(totals, key=lambda c: (c != ALL_STUDIES, -totals[c], c))
    studies = str(datasette.urls.table(database, "studies"))
    feed = str(datasette.urls.database(database)) + "/new_for_condition.atom"
    return {
        "designs": DESIGNS,
        "evidence_map": evidence_map_rows(studies, conditions, cells, scope),
        "scope": scope,
        "scopes": {name: ("?ketamine=1" if name == "ketamine" else "?") for name in SCOPES},
        "scope_names": SCOPE_NAMES,
        "coverage": await _coverage(db),
        "latest": await _latest(datasette, db, studies, feed, conditions),
        "chart": await _chart(db, conditions),
        "provenance": await _provenance(db),
        "search_url": datasette.urls.database(database) + "/search",
        "studies_url": studies + "?" + cell_query(None, None, "all", True),
        "feed_url": feed,
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


async def _latest(datasette, db, studies: str, feed: str, conditions) -> Markup:
    """Per condition, the newest systematic reviews and RCTs listed as certain, with the condition's
    feed; written in Python, as the evidence map is."""
    rows = (await db.execute(
        "select * from latest_evidence where rank <= 3 order by condition, design, rank")).rows
    by_condition: dict[str, dict[str, list]] = {}
    for row in rows:
        by_condition.setdefault(row["condition"], {}).setdefault(row["design"], []).append(row)
    html = []
    for condition in [c for c in conditions if c in by_condition]:
        html.append(f'<section class="latest">\n<h3>{escape(condition)} <a class="feed" '
                    f'href="{escape(feed + "?" + urlencode({"condition": condition}))}" '
                    f'title="Atom feed of new {escape(condition)} records">feed</a></h3>\n')
        for design in LATEST_DESIGNS:
            url = studies + "?" + cell_query(condition, design, "all", True)
            html.append(f'<h4><a href="{escape(url)}">{escape(DESIGNS[design])}</a></h4>\n')
            listed = by_condition[condition].get(design, [])
            html.append("<ol>\n" + "".join(_latest_item(study, str(article_url(datasette, study["pmid"])))
                                            for study in listed) + "</ol>\n" if listed
                        else '<p class="none">None yet.</p>\n')
        html.append("</section>\n")
    return Markup("".join(html))


def _latest_item(study, href: str) -> str:
    meta = " ".join(str(part) for part in (study["journal"], study["year"]) if part)
    status = study["correction_status"]
    badge = (f' <span class="badge badge-{escape(status.replace(" ", "-"))}">{escape(status)}</span>'
             if status else "")
    return (f'<li><a href="{escape(href)}">{escape(study["title"])}</a> '
            f'<span class="meta">{escape(meta)}</span>{badge}</li>\n')


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
        "records": await db.study_count(),
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
