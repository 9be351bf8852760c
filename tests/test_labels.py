"""The indexed label table (`study_labels`): it holds exactly the studies' JSON list columns,
`kaplit check` says when it does not, and the studies page counts and filters through it with the
same results as SQL over the JSON columns (the response cache off)."""

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


@pytest.mark.parametrize("filters", [
    {"conditions__arraycontains": PTSD, "routes__arraycontains": "Intravenous"},
    {"conditions__arraycontains": "Depression", "details__arraycontains": "Treatment-resistant depression"},
    {"substances__arraycontains": "S-Ketamine", "design": "Randomized-controlled trial (RCT)"},
])
def test_a_cold_filtered_page_counts_as_the_json_columns_do(site_db, conn, monkeypatch, filters):
    monkeypatch.setenv("KAPLIT_CACHE_MB", "0")
    ds = make_datasette(site_db)
    query = urllib.parse.urlencode({**filters, "_size": "max", "_shape": "objects"})
    page = asyncio.run(ds.client.get(f"/kaplit/studies.json?{query}")).json()
    where, params = [], []
    for key, value in filters.items():
        column, _, op = key.partition("__")
        where.append(f"exists (select 1 from json_each(s.{column}) where value = ?)" if op else f"s.{column} = ?")
        params.append(value)
    matching = [r[0] for r in conn.execute(f"select pmid from studies s where {' and '.join(where)}", params)]
    assert sorted(r["pmid"] for r in page["rows"]) == sorted(matching) and matching
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


def test_no_count_or_filter_of_a_studies_page_reads_the_json_lists(site_db, monkeypatch):
    """Every statement behind a filtered studies page (rows, count, facets) finds labels through
    study_labels: Datasette's own JSON check of an arraycontains filter is dropped where kaplit's
    indexed clause says the same."""
    from kaplit.web.app import SETTINGS

    monkeypatch.setitem(SETTINGS, "trace_debug", True)
    ds = make_datasette(site_db)
    query = urllib.parse.urlencode({"conditions__arraycontains": PTSD, "routes__arraycontains": "Intravenous",
                                    "_trace": "1"})
    traces = asyncio.run(ds.client.get(f"/kaplit/studies.json?{query}")).json()["_trace"]["traces"]
    statements = [t["sql"] for t in traces if "studies" in t["sql"] and "sqlite_master" not in t["sql"]]
    assert len(statements) >= 4
    assert not [sql for sql in statements if "json_each" in sql], statements
