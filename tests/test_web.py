"""The served site through Datasette's own test client, on the ingested snapshot."""

from __future__ import annotations

import sqlite3
import urllib.parse

import pytest

from kaplit.web.app import load_metadata


@pytest.fixture(scope="module")
def get(site):
    return site


def test_home_page_has_title_and_source(get):
    response = get("/")
    assert response.status_code == 200
    assert "kaplit" in response.text
    assert "https://pubmed.ncbi.nlm.nih.gov/" in response.text


def test_full_text_search_finds_esketamine(get):
    response = get("/kaplit/articles.json?_search=esketamine&_shape=array&_size=max")
    assert response.status_code == 200
    rows = response.json()
    assert len(rows) > 50
    assert all("esketamine" in ((r["title"] or "") + (r["abstract"] or "") + (r["keywords_text"] or "")
                                + (r["mesh_text"] or "")).lower() for r in rows)


def test_articles_table_newest_first_with_facets(get):
    response = get("/kaplit/articles.json?_shape=objects&_size=20")
    data = response.json()
    dates = [r["pub_date"] for r in data["rows"]]
    assert dates == sorted(dates, reverse=True) and dates[0] is not None
    assert {"year", "journal", "is_retracted"} <= {f for f in data["facet_results"]}


def test_every_canned_query_answers(get):
    queries = load_metadata()["databases"]["kaplit"]["queries"]
    assert len(queries) >= 5
    for name in queries:
        params = {"q": "ketamine", "condition": "Depression", "_shape": "array"}
        response = get(f"/kaplit/{name}.json?" + urllib.parse.urlencode(params))
        assert response.status_code == 200, (name, response.text[:300])
        assert isinstance(response.json(), list)
        html = get(f"/kaplit/{name}?q=ketamine&condition=Depression")
        assert html.status_code == 200 and queries[name]["title"] in html.text


def test_search_query_ranks_matches(get):
    rows = get("/kaplit/search.json?q=esketamine&_shape=array").json()
    assert len(rows) > 50
    assert "esketamine" in rows[0]["title"].lower()


def test_served_read_only(get):
    assert get.ds.databases["kaplit"].is_mutable is False
    response = get("/kaplit.json?" + urllib.parse.urlencode({"sql": "delete from articles"}))
    assert response.status_code == 400
    stored = sqlite3.connect(get.db_path).execute("select count(*) from articles").fetchone()[0]
    assert get("/kaplit.json?sql=select+count(*)+as+n+from+articles&_shape=array").json() == [{"n": stored}]


def test_clinician_queries_find_tagged_studies(get):
    rcts = get("/kaplit/esketamine_rcts_trd.json?_shape=array").json()
    assert len(rcts) >= 10
    named = [r for r in rcts if any(w in r["title"].lower() for w in ("esketamine", "s-ketamine", "spravato"))]
    assert len(named) >= 0.8 * len(rcts)
    assert len({r["pmid"] for r in rcts}) == len(rcts)
    kap = get("/kaplit/kap_studies.json?_shape=array").json()
    assert kap and all(r["psychotherapy_evidence"] for r in kap)


def test_ris_export_parses_back(get):
    import rispy

    response = get("/kaplit/articles.ris?_search=esketamine&_size=20")
    assert response.status_code == 200 and "research-info-systems" in response.headers["content-type"]
    entries = rispy.loads(response.text)
    assert len(entries) == 20
    rows = get("/kaplit/articles.json?_search=esketamine&_size=20&_shape=array").json()
    assert [int(e["accession_number"]) for e in entries] == [r["pmid"] for r in rows]
    first, row = entries[0], rows[0]
    assert first["title"] == " ".join(row["title"].split())
    assert first["urls"] == [f"https://pubmed.ncbi.nlm.nih.gov/{row['pmid']}/"]
    if row["doi"]:
        assert first["doi"] == row["doi"]


def test_bibtex_export_parses_back(get):
    import bibtexparser

    response = get("/kaplit/search.bib?q=esketamine")
    assert response.status_code == 200
    library = bibtexparser.parse_string(response.text)
    assert not library.failed_blocks
    rows = get("/kaplit/search.json?q=esketamine&_shape=array").json()
    assert [e.key for e in library.entries] == [f"pmid{r['pmid']}" for r in rows]
    assert all(e.fields_dict["url"].value.startswith("https://pubmed.ncbi.nlm.nih.gov/") for e in library.entries)
    with_authors = [e for e in library.entries if "author" in e.fields_dict]
    assert with_authors and all(" and " in e.fields_dict["author"].value or "," in e.fields_dict["author"].value
                                for e in with_authors)


def test_export_links_offered_only_with_pmids(get):
    assert ".ris" in get("/kaplit/articles").text
    assert get("/kaplit/crawl_runs.ris").status_code in (400, 404)


def test_medline_page_ranges_are_expanded():
    from kaplit.web.citations import _pages

    assert _pages("454-81") == ("454", "481")
    assert _pages("e2305772120") == ("e2305772120", None)
    assert _pages("1123-1130") == ("1123", "1130")


def test_every_studies_column_is_declared_made_and_described(site):
    """A column the tagger fills is declared once (STUDY_COLUMNS_FROM_TAGS): the migrations made
    it, the re-tag fills it, the site describes it; every other column metadata.yml describes;
    every facet of the studies page is a column."""
    import sqlite3

    from kaplit.db.schema import STUDY_COLUMNS
    from kaplit.pipeline.tagging.taxonomy import STUDY_COLUMNS_FROM_TAGS

    with sqlite3.connect(site.db_path) as conn:
        made = [r[1] for r in conn.execute("pragma table_info(studies)")]
        filled = {c.name: conn.execute(f"select count({c.name}) from studies").fetchone()[0]
                  for c in STUDY_COLUMNS_FROM_TAGS}
    assert sorted(made) == sorted(STUDY_COLUMNS)
    assert all(filled.values()), filled
    table = site("/-/metadata.json").json()["databases"]["kaplit"]["tables"]["studies"]
    assert set(table["columns"]) == set(made) - {"pmid"}
    assert all(table["columns"][c.name] == c.description for c in STUDY_COLUMNS_FROM_TAGS)
    facets = [next(iter(f.values())) if isinstance(f, dict) else f for f in table["facets"]]
    assert set(facets) <= set(made)
