"""The indexed label table (`study_labels`): it holds exactly the studies' JSON list columns,
`kaplit check` says when it does not, and the studies page counts and filters through it with the
same results as SQL over the JSON columns."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse

import pytest

from kaplit.pipeline.tagging.taxonomy import LABELLED_COLUMNS
from kaplit.web.app import make_datasette

PTSD = "Post-traumatic stress disorder (PTSD)"
RCT = "Randomized-controlled trial (RCT)"


@pytest.fixture(scope="module")
def conn(site_db):
    return sqlite3.connect(site_db)


def from_json(conn, facet) -> list[tuple]:
    return sorted(conn.execute(f"select s.pmid, j.value from studies s, json_each(s.{facet}) j"))


def test_the_label_table_holds_every_studys_labels(conn):
    assert conn.execute("select count(distinct facet) from study_labels").fetchone()[0] == len(LABELLED_COLUMNS)
    for facet in LABELLED_COLUMNS:
        rows = sorted(conn.execute("select pmid, label from study_labels where facet = ?", [facet]))
        assert rows == from_json(conn, facet), facet
    counts = dict(conn.execute("select label, count(*) from study_labels where facet = 'conditions' group by label"))
    assert counts[PTSD] == conn.execute(
        "select count(*) from studies s where exists (select 1 from json_each(s.conditions) where value = ?)",
        [PTSD]).fetchone()[0]


def test_check_reports_a_label_table_out_of_step(site_db, tmp_path):
    path = tmp_path / "k.db"
    shutil.copy(site_db, path)
    ok = subprocess.run([sys.executable, "-m", "kaplit", "check", "--db", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    with sqlite3.connect(path) as db:
        db.execute("delete from study_labels where facet = 'routes' and label = 'Nasal'")
    broken = subprocess.run([sys.executable, "-m", "kaplit", "check", "--db", str(path)],
                            capture_output=True, text=True)
    assert broken.returncode == 1
    assert "label(s) of studies missing from study_labels" in broken.stderr and "'Nasal'" in broken.stderr


AS_SQL = {"": "s.{} = ?", "arraycontains": "exists (select 1 from json_each(s.{}) where value = ?)",
          "arraynotcontains": "not exists (select 1 from json_each(s.{}) where value = ?)", "gte": "s.{} >= ?",
          "lt": "s.{} < ?", "not": "s.{} != ?", "contains": "s.{} like '%' || ? || '%'", "isnull": "s.{} is null"}


def test_check_reports_bitmaps_out_of_step(site_db, tmp_path):
    path = tmp_path / "k.db"
    shutil.copy(site_db, path)
    with sqlite3.connect(path) as db:
        db.execute("update studies set design = 'Case report' where pmid = (select min(pmid) from studies "
                   "where design = ?)", [RCT])
    broken = subprocess.run([sys.executable, "-m", "kaplit", "check", "--db", str(path)],
                            capture_output=True, text=True)
    assert broken.returncode == 1
    assert "study_bitmaps out of step with studies for 2 value(s)" in broken.stderr, broken.stderr
    assert f"design {RCT!r}" in broken.stderr and "design 'Case report'" in broken.stderr


def test_the_bitmaps_answer_filters_as_sql_does(conn):
    from kaplit.db.bitmaps import StudyBitmaps

    bitmaps = StudyBitmaps.read(conn)
    cases = {("year", "gte", "2020"): "year >= 2020", ("year", "exact", "2020"): "year = 2020",
             ("year", "exact", "2020.0"): "year = '2020.0'", ("year", "not", "2020"): "year != 2020",
             ("ketamine", "exact", "1"): "ketamine = 1", ("duplicate_of", "isnull", "1"): "duplicate_of is null",
             ("duplicate_of", "notnull", "1"): "duplicate_of is not null",
             ("design", "exact", RCT): f"design = '{RCT}'",
             ("journal", "isnull", "1"): "journal is null", ("year", "lt", "1990"): "year < 1990"}
    for (column, operator, value), where in cases.items():
        expected = {r[0] for r in conn.execute(f"select pmid from studies where {where}")}
        assert set(bitmaps.matching([(column, operator, value)])) == expected, where


@pytest.mark.parametrize("walk", [False, True], ids=["read-by-pmid", "walking-the-sort-index"])
@pytest.mark.parametrize("filters", [
    {"conditions__arraycontains": PTSD, "routes__arraycontains": "Intravenous"},
    {"conditions__arraycontains": "Depression", "details__arraycontains": "Treatment-resistant depression"},
    {"substances__arraycontains": "S-Ketamine", "design": RCT},
    {"conditions__arraycontains": "Depression", "year__gte": "2020", "duplicate_of__isnull": "1"},
    {"design__not": RCT, "year__lt": "2015", "routes__arraynotcontains": "Intravenous"},
    {"title__contains": "esketamine", "design": RCT},  # a filter only SQL answers
], ids=["ptsd-iv", "trd", "esketamine-rct", "depression-since-2020", "not-rct-before-2015", "title-contains"])
def test_a_cold_filtered_page_counts_as_the_json_columns_do(site_db, conn, monkeypatch, filters, walk):
    monkeypatch.setattr("kaplit.web.page_studies.walk_the_index", lambda *counts: walk)
    ds = make_datasette(site_db)
    query = urllib.parse.urlencode({**filters, "_size": "max", "_shape": "objects"})
    page = asyncio.run(ds.client.get(f"/kaplit/studies.json?{query}")).json()
    where, params = [], []
    for key, value in filters.items():
        column, _, op = key.partition("__")
        where.append(AS_SQL[op].format(column))
        params += [value] if op != "isnull" else []
    matching = [r[0] for r in conn.execute(f"select pmid from studies s where {' and '.join(where)}", params)]
    assert sorted(r["pmid"] for r in page["rows"]) == sorted(matching) and matching
    assert page["filtered_table_rows_count"] == len(matching)
    for facet in ("conditions", "routes", "substances", "details"):
        shown = {v["value"]: v["count"] for v in page["facet_results"][facet]["results"]}
        marks = ",".join("?" * len(matching))
        expected = dict(conn.execute(
            f"select j.value, count(*) from studies s, json_each(s.{facet}) j where s.pmid in ({marks}) "
            f"group by j.value", matching))
        assert shown == {label: expected[label] for label in shown}, facet
        assert set(shown) == set(sorted(expected, key=lambda k: (-expected[k], k))[:len(shown)]), facet
    for column in ("design", "year", "journal", "ketamine", "kap", "is_retracted"):  # counted in one pass
        shown = {v["value"]: v["count"] for v in page["facet_results"][column]["results"]}
        expected = dict(conn.execute(f"select {column}, count(*) from studies where pmid in ({marks}) "
                                     f"group by {column}", matching))
        assert shown == {value: expected[value] for value in shown} and shown, column
        assert len(shown) == min(len(expected), 30), column
    assert not page.get("facets_timed_out")


def studies_statements(site_db, monkeypatch, filters: dict) -> list[str]:
    from kaplit.web.app import SETTINGS

    monkeypatch.setitem(SETTINGS, "trace_debug", True)
    ds = make_datasette(site_db)
    query = urllib.parse.urlencode({**filters, "_trace": "1"})
    traces = asyncio.run(ds.client.get(f"/kaplit/studies.json?{query}")).json()["_trace"]["traces"]
    return [t["sql"] for t in traces if "from studies" in t["sql"]]


@pytest.mark.parametrize("filters", [
    {"conditions__arraycontains": PTSD, "routes__arraycontains": "Intravenous"},
    {"conditions__arraycontains": PTSD, "title__contains": "ketamine"},  # SQL's filter; the label's by index
])
def test_no_count_or_filter_of_a_studies_page_reads_the_json_lists(site_db, monkeypatch, filters):
    """The statements behind a filtered studies page find labels through study_labels or the
    bitmaps: Datasette's own JSON check of an arraycontains filter is dropped, and the count and
    the facets of a page the bitmaps answer need no statement at all."""
    statements = studies_statements(site_db, monkeypatch, filters)
    assert statements and not [sql for sql in statements if 'json_each("studies"' in sql], statements
    if "title__contains" not in filters:
        assert len(statements) == 1 and " limit " in statements[0], statements  # the rows alone


def test_many_matching_studies_are_read_through_the_sort_index(site_db, conn, monkeypatch):
    from kaplit.web.page_studies import walk_the_index

    depression, studies = conn.execute("select (select count(*) from study_labels where facet = 'conditions' "
                                        "and label = 'Depression'), (select count(*) from studies)").fetchone()
    assert walk_the_index(depression, studies, 21) and not walk_the_index(50, studies, 21)
    [rows] = studies_statements(site_db, monkeypatch, {"conditions__arraycontains": "Depression"})
    assert "indexed by studies_newest" in rows and "kaplit_page(" in rows
    [rows] = studies_statements(site_db, monkeypatch, {"conditions__arraycontains": "Depression", "_sort": "title"})
    assert "indexed by" not in rows and "json_each(:kaplit_ids)" in rows  # no index to walk


@pytest.mark.parametrize("walk", [False, True], ids=["read-by-pmid", "walking-the-sort-index"])
@pytest.mark.parametrize("sort", ["", "_sort=year", "_sort_desc=participant_count", "_sort=title"])
def test_a_filtered_page_pages_through_to_its_last_row(site_db, conn, monkeypatch, walk, sort):
    monkeypatch.setattr("kaplit.web.page_studies.walk_the_index", lambda *counts: walk)
    ds = make_datasette(site_db)
    expected = {r[0] for r in conn.execute("select pmid from study_labels where facet = 'conditions' "
                                           "and label = 'Depression'")}
    shown, url = [], f"/kaplit/studies.json?conditions__arraycontains=Depression&_size=100&_shape=objects&{sort}"
    while url:
        body = asyncio.run(ds.client.get(url)).json()
        shown += [row["pmid"] for row in body["rows"]]
        url = body.get("next_url") and urllib.parse.urlsplit(body["next_url"])
        url = url and f"{url.path}?{url.query}"
    assert len(shown) == len(set(shown)) and set(shown) == expected and len(expected) > 500


def test_view_and_edit_sql_of_a_filtered_page_runs_as_shown(site_db, conn, monkeypatch):
    """The SQL a filtered page shows is valid SQL on its own (the page's set is the database's
    shortcut, not part of the statement), and it selects the page's studies."""
    import lxml.html

    ds = make_datasette(site_db)
    query = urllib.parse.urlencode({"conditions__arraycontains": PTSD, "year__gte": "2020", "ketamine": "1"})
    page = asyncio.run(ds.client.get(f"/kaplit/studies?{query}"))
    [link] = lxml.html.fromstring(page.text).xpath("//a[starts-with(@href, '/kaplit?sql=')]/@href")
    parts = urllib.parse.urlsplit(link)
    shown = asyncio.run(ds.client.get(f"{parts.path}.json?{parts.query}&_shape=objects"))
    assert shown.status_code == 200, shown.text[:300]
    expected = {r[0] for r in conn.execute(
        "select pmid from studies s where year >= 2020 and ketamine = 1 and exists "
        "(select 1 from json_each(s.conditions) where value = ?)", [PTSD])}
    assert {row["pmid"] for row in shown.json()["rows"]} == expected and expected


def test_every_counted_facet_of_a_large_table_is_counted_at_retag(conn):
    from kaplit.db.summaries import COLUMN_COUNTS, stale_column_counts
    from kaplit.web.app import load_metadata

    tables = load_metadata()["databases"]["kaplit"]["tables"]
    counted = {(table, facet["counts"]) for table, config in tables.items() if table != "studies"
               for facet in config.get("facets", []) if isinstance(facet, dict) and "counts" in facet}
    assert counted == {(table, column) for table, columns in COLUMN_COUNTS.items() for column in columns}
    assert stale_column_counts(conn) == []


@pytest.mark.parametrize("path, where", [
    ("/kaplit/articles.json", "1"),
    ("/kaplit/articles.json?language=eng", "language = 'eng'"),
    ("/kaplit/studies.json?_facet_counts=tagger_version&_facet_counts=participants", "1"),  # a facet asked for
])
def test_counted_facets_of_any_page_agree_with_sql(site_db, conn, monkeypatch, path, where):
    page = asyncio.run(make_datasette(site_db).client.get(path)).json()
    table = path.split("/")[2].split(".")[0]
    assert page["facet_results"] and not page.get("facets_timed_out")
    assert {"tagger_version", "participants"} <= set(page["facet_results"]) or table != "studies"
    for column, result in page["facet_results"].items():
        if result["type"] != "counts":
            continue
        shown = {v["value"]: v["count"] for v in result["results"]}
        expected = dict(conn.execute(f"select {column}, count(*) from {table} where {where} group by 1"))
        assert shown and shown == {value: expected[value] for value in shown}, column


def test_check_reports_column_counts_out_of_step(site_db, tmp_path):
    path = tmp_path / "k.db"
    shutil.copy(site_db, path)
    with sqlite3.connect(path) as db:
        db.execute("delete from mesh_headings where rowid = (select min(rowid) from mesh_headings)")
    broken = subprocess.run([sys.executable, "-m", "kaplit", "check", "--db", str(path)],
                            capture_output=True, text=True)
    assert broken.returncode == 1 and "column_counts out of step with mesh_headings.descriptor" in broken.stderr


def test_label_facet_counts_hold_each_single_label_filters_counts(conn):
    """For a label and for a design, the counts of a facet among their studies, as SQL over the
    JSON lists gives them."""
    cases = [("conditions", PTSD, "design", "exists (select 1 from json_each(s.conditions) where value = ?)"),
             ("design", RCT, "year", "s.design = ?"),
             ("substances", "S-Ketamine", "routes", "exists (select 1 from json_each(s.substances) where value = ?)")]
    for facet, label, counted, where in cases:
        stored = dict(conn.execute("select value, studies from label_facet_counts where facet = ? and label = ? "
                                   "and counted = ?", [facet, label, counted]))
        if counted == "routes":
            sql = f"select j.value, count(*) from studies s, json_each(s.routes) j where {where} group by 1"
        else:
            sql = f"select s.{counted}, count(*) from studies s where {where} group by 1"
        assert stored == dict(conn.execute(sql, [label])) and stored, (facet, label, counted)


def test_sql_a_visitor_sends_is_never_answered_from_a_page_set(site_db, conn):
    """A page's parameters travel in its "View and edit SQL" link; SQL edited there, with them
    still attached, runs as written."""
    ds = make_datasette(site_db)
    filters = urllib.parse.urlencode({"conditions__arraycontains": PTSD})
    asyncio.run(ds.client.get(f"/kaplit/studies.json?{filters}"))  # the page's set is now kept
    name = urllib.parse.urlencode([("conditions__arraycontains", PTSD)])
    crafted = urllib.parse.urlencode({"sql": f"select count(*) from studies where design = '{RCT}'",
                                      "kaplit_page": name, "_shape": "array"})
    answered = asyncio.run(ds.client.get(f"/kaplit.json?{crafted}")).json()
    assert answered == [{"count(*)": conn.execute("select count(*) from studies where design = ?",
                                                  [RCT]).fetchone()[0]}]


def test_tables_are_counted_when_the_database_page_asks_not_before_the_first_request(site_db, conn):
    """Datasette counts every table of an immutable file before it answers anything (26 s from a
    cold disk at a million records); kaplit's counts come from what it keeps, when asked."""
    ds = make_datasette(site_db)

    async def start_then_list_tables():
        assert (await ds.client.get("/-/kaplit.json")).json()["ready"]
        counted_at_start = ds.get_database("kaplit")._cached_table_counts
        return counted_at_start, (await ds.client.get("/kaplit.json")).json()["tables"]

    counted_at_start, tables = asyncio.run(start_then_list_tables())
    assert counted_at_start is None
    counts = {table["name"]: table["count"] for table in tables}
    for name in ("articles", "studies", "mesh_headings", "study_labels", "tags", "article_authors"):
        assert counts[name] == conn.execute(f"select count(*) from [{name}]").fetchone()[0], name
