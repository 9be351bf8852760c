"""The paths a clinician or a researcher takes through the site, on the snapshot and every real
efetch record: complete exports and paging whatever the sort, every export format of a filtered
page read back by its reader, search as people type it, and what the data lacks said plainly."""

from __future__ import annotations

import csv
import io
import sqlite3
import urllib.parse
from pathlib import Path

import bibtexparser
import lxml.etree
import lxml.html
import pytest
import rispy

from kaplit.web.search import MATCH_NOTHING, fts_query

PARAMS = {"search": {"q": "ketamine"}, "new_for_condition": {"condition": "PTSD"}}


@pytest.fixture(scope="module")
def conn(site):
    return sqlite3.connect(site.db_path)


def tables(site) -> list[str]:
    async def visible():
        db = site.ds.get_database("kaplit")
        hidden = set(await db.hidden_table_names())
        return [t for t in await db.table_names() if t not in hidden]

    import asyncio
    return asyncio.run(visible())


def primary_key(conn, table) -> list[str]:
    keys = [r[1] for r in sorted(conn.execute(f"pragma table_info([{table}])"), key=lambda r: r[5]) if r[5]]
    return keys or ["rowid"]


def csv_keys(site, path, keys) -> list[tuple]:
    response = site(path)
    assert response.status_code == 200, (path, response.text[:300])
    return [tuple(row[k] for k in keys) for row in csv.DictReader(io.StringIO(response.text))]


def json_pages(site, path) -> list[dict]:
    rows, url = [], path
    while url:
        body = site(url).json()
        rows += body["rows"]
        url = body.get("next_url")
        if url:
            parts = urllib.parse.urlsplit(url)
            url = parts.path + "?" + parts.query
    return rows


def test_every_table_exports_each_row_once_as_streamed_csv(site, conn):
    for table in tables(site):
        keys = primary_key(conn, table)
        expected = sorted(tuple(str(v) for v in r) for r in conn.execute(f"select {', '.join(keys)} from [{table}]"))
        got = csv_keys(site, f"/kaplit/{table}.csv?_stream=on&_size=max", keys)
        assert sorted(got) == expected, table


@pytest.mark.parametrize("size", [100, 777, 2000])
def test_every_table_pages_as_json_each_row_once(site, conn, size):
    for table in tables(site):
        keys = primary_key(conn, table)
        rows = json_pages(site, f"/kaplit/{table}.json?_shape=objects&_size={size}")
        got = [tuple(row[k] for k in keys) for row in rows] if keys != ["rowid"] else [r["rowid"] for r in rows]
        assert len(got) == len(set(got)) == conn.execute(f"select count(*) from [{table}]").fetchone()[0], table


@pytest.mark.parametrize("table, sort", [
    ("studies", ""), ("studies", "_sort=year"), ("studies", "_sort_desc=participant_count"),
    ("studies", "_sort=design"), ("articles", ""), ("articles", "_sort_desc=year"), ("tags", "_sort=facet"),
    ("crawl_runs", ""),
])
@pytest.mark.parametrize("size", [100, 777, 2000])
def test_json_pages_hold_each_row_once_whatever_the_sort(site, conn, table, sort, size):
    """Sort keys with ties and NULLs (pub_date is NULL for 1,585 snapshot records)."""
    keys = primary_key(conn, table)
    rows = json_pages(site, f"/kaplit/{table}.json?_shape=objects&_size={size}&{sort}")
    got = [tuple(row[k] for k in keys) for row in rows]
    assert len(got) == len(set(got)) == conn.execute(f"select count(*) from [{table}]").fetchone()[0]


@pytest.mark.parametrize("columns", ["_nocol=pub_date", "_col=title", "_sort=year&_nocol=year"])
def test_hiding_the_sort_column_still_pages_every_row_once(site, conn, columns):
    """The column menu's "hide" on the column a list is sorted by (Datasette 0.65 answered 500)."""
    assert site(f"/kaplit/studies?{columns}").status_code == 200
    rows = json_pages(site, f"/kaplit/studies.json?_shape=objects&_size=500&{columns}")
    assert len({r["pmid"] for r in rows}) == len(rows) == conn.execute("select count(*) from studies").fetchone()[0]


def test_the_studies_page_pages_through_to_its_last_row(site, conn):
    pages, url = 0, "/kaplit/studies"
    shown = []
    while url:
        tree = lxml.html.fromstring(site(url).text)
        shown += [td.text_content().strip() for td in tree.cssselect("td.col-pmid")]
        pages += 1
        next_link = tree.xpath("//a[normalize-space(text()) = 'Next page']/@href")
        url = next_link[0] if next_link else None
        assert not url or url.startswith("/kaplit/studies?")  # relative: works behind any host
    assert len(shown) == len(set(shown)) == conn.execute("select count(*) from studies").fetchone()[0]
    assert pages == -(-len(shown) // 20)  # metadata.yml: size 20


@pytest.mark.parametrize("name", ["search", "esketamine_rcts_trd", "kap_studies", "retracted_or_corrected",
                                  "registered_trials", "publications_per_year", "new_for_condition",
                                  "evidence_by_condition_and_year", "crawl_history"])
def test_every_canned_query_exports_its_sql_rows(site, conn, name):
    query = site.ds.metadata("queries", database="kaplit")[name]
    params = PARAMS.get(name, {})
    conn.create_function("escape_fts", 1, fts_query)
    expected = conn.execute(query["sql"], params).fetchall()
    assert expected, name  # every query finds something on this database
    encoded = urllib.parse.urlencode(params)
    rows = site(f"/kaplit/{name}.json?_shape=array&{encoded}").json()
    assert [tuple(r.values()) for r in rows] == [tuple(r) for r in expected]
    exported = list(csv.reader(io.StringIO(site(f"/kaplit/{name}.csv?_stream=on&{encoded}").text)))
    assert len(exported) - 1 == len(expected)
    if name == "kap_studies":  # one row per study
        assert len({r[0] for r in expected}) == len(expected)


FILTERED = ("/kaplit/studies.{}?conditions__arraycontains=Post-traumatic+stress+disorder+%28PTSD%29"
            "&ketamine=1&_labels=on&_size=max")


def test_each_export_of_a_filtered_studies_page_reads_back(site, conn):
    expected = {r[0] for r in conn.execute(
        "select pmid from studies s where ketamine = 1 and exists (select 1 from json_each(s.conditions) "
        "where value = 'Post-traumatic stress disorder (PTSD)')")}
    assert len(expected) > 20
    entries = rispy.loads(site(FILTERED.format("ris")).text)
    assert {int(e["accession_number"]) for e in entries} == expected
    library = bibtexparser.parse_string(site(FILTERED.format("bib")).text)
    assert not library.failed_blocks
    assert {int(e["pmid"]) for e in library.entries} == expected
    feed = lxml.etree.fromstring(site(FILTERED.format("atom")).content)
    links = feed.xpath("//a:entry/a:link/@href", namespaces={"a": "http://www.w3.org/2005/Atom"})
    assert {int(link.rsplit("/", 1)[1]) for link in links} == expected
    rows = list(csv.DictReader(io.StringIO(site(FILTERED.format("csv")).text)))
    assert {int(r["pmid"]) for r in rows} == expected
    labelled = site(FILTERED.format("json") + "&_shape=array").json()  # pmid as {"value", "label"}
    assert {r["pmid"]["value"] for r in labelled} == expected


TYPED = ["treatment-resistant", "ketamine-assisted", "TRANSFORM-2", "ESCAPE-TRD", "PTSD OR", "5-MeO-DMT",
         "N,N-DMT", "(R)-ketamine", '"ketamine" AND "PTSD"', '"', "", "NOT", "esketamine \"treatment-resistant\"",
         "depress* NOT bipolar", "ketamine ("]


@pytest.mark.parametrize("typed", TYPED)
def test_search_accepts_what_people_type(site, conn, typed):
    """Ranked search and a table's search box: 200 with results (or none, for a query with no
    word), never SQL or an FTS5 error."""
    quoted = urllib.parse.quote(typed)
    for path in (f"/kaplit/search?q={quoted}", f"/kaplit/articles?_search={quoted}"):
        response = site(path)
        assert response.status_code == 200, (path, response.text[:300])
        assert "fts5" not in response.text and "no such column" not in response.text
    found = conn.execute("select count(*) from articles_fts where articles_fts match ?",
                         [fts_query(typed)]).fetchone()[0]
    has_words = any(ch.isalnum() for ch in typed.replace("NOT", "").replace("OR", ""))
    assert (found > 0) == has_words, (typed, fts_query(typed))


@pytest.mark.parametrize("typed, query", [
    ("treatment-resistant depression", '"treatment-resistant" "depression"'),
    ("PTSD OR", '"PTSD"'),
    ("OR ketamine AND", '"ketamine"'),
    ('"ketamine" AND "PTSD"', '"ketamine" AND "PTSD"'),
    ('"unclosed phrase', '"unclosed phrase"'),
    ("ketam*", '"ketam"*'),
    ('say "no"', '"say" "no"'),
    ('he said "x', '"he" "said" "x"'),
    ("", MATCH_NOTHING),
    ("( ) -", MATCH_NOTHING),
])
def test_typed_text_becomes_an_fts5_query(typed, query):
    assert fts_query(typed) == query


def test_a_search_that_cannot_run_says_what_to_change(site):
    response = site("/kaplit/articles?_searchmode=raw&_search=PTSD+OR")
    assert response.status_code == 400
    assert "Search not understood" in response.text and "leave _searchmode out" in response.text
    assert "select" not in lxml.html.fromstring(response.text).cssselect("section.content")[0].text_content().lower()


def test_the_landing_page_says_what_the_records_lack(site, conn):
    """The snapshot has no publication types, correction links or entry dates: the page counts
    them from the data and promises no retraction flags it cannot give; no server path shows."""
    text = lxml.html.fromstring(site("/").text).text_content()
    coverage = dict(conn.execute("select field, records from coverage"))
    assert coverage["records"] == conn.execute("select count(*) from articles").fetchone()[0]
    assert coverage["publication types"] == conn.execute(
        "select count(distinct pmid) from publication_types").fetchone()[0]
    assert "publication types" in text and f"{coverage['MeSH headings']:,}" in text
    if coverage["retraction and correction links"]:
        assert "Retracted and corrected articles are flagged" in text
    assert "/work/" not in text and "/tmp/" not in text and str(site.db_path.parent) not in text


def test_the_snapshot_alone_promises_no_retraction_flags(tmp_path, snapshot_db):
    import asyncio
    import shutil

    from kaplit.db.schema import open_db
    from kaplit.db.tags import retag
    from kaplit.web.app import make_datasette

    path = tmp_path / "kaplit.db"
    shutil.copy(snapshot_db, path)
    retag(open_db(path))
    text = lxml.html.fromstring(asyncio.run(make_datasette(path).client.get("/")).text).text_content()
    assert "carry no retraction or correction links and no publication types" in text
    assert "Retracted and corrected articles are flagged" not in text
    assert "ingest snapshot:" not in text and "/pubmed/snapshot" not in text


def test_a_retraction_notice_flags_the_article_it_names(conn, site):
    """39126500 and 39126501 are "Retraction Note: <title>" records; the snapshot has no
    RetractionIn on the articles they retract."""
    links = conn.execute("select notice_pmid, target_pmid, kind, basis from notice_links "
                         "where kind = 'retracted' and basis = 'title' order by 1").fetchall()
    assert (39126500, 32500209, "retracted", "title") in links and (39126501, 31065731, "retracted", "title") in links
    assert conn.execute("select pmid, is_retracted, correction_status from studies where pmid in "
                        "(31065731, 32500209) order by pmid").fetchall() == [
        (31065731, 1, "retracted"), (32500209, 1, "retracted")]
    banner = lxml.html.fromstring(site("/article/31065731").text).cssselect("div.banner-danger")
    assert banner and "retracted" in banner[0].text_content().lower()


def test_a_republished_article_counts_once(conn):
    """37404970 reprints 33397139 (same title, the abstract plus a reprint line)."""
    assert conn.execute("select duplicate_of from studies where pmid = 37404970").fetchone() == (33397139,)
    assert conn.execute("select duplicate_of from studies where pmid = 33397139").fetchone() == (None,)
    total = conn.execute("select sum(studies + uncertain) from evidence_map where scope = 'all' "
                         "and condition = 'All studies'")
    assert total.fetchone()[0] == conn.execute(
        "select count(*) from studies where design is not null and duplicate_of is null").fetchone()[0]


def test_kap_is_ketamine_assisted_psychotherapy(conn):
    kap, psychotherapy, ketamine_kap = conn.execute(
        "select sum(kap), sum(psychotherapy), sum(kap and ketamine) from studies").fetchone()
    assert 0 < kap == ketamine_kap < psychotherapy
    mdma_therapy = conn.execute("select count(*) from studies where psychotherapy = 1 and kap = 0 "
                                "and substances like '%MDMA%'").fetchone()[0]
    assert mdma_therapy > 20


def test_tags_say_which_rows_are_final(conn):
    """A condition tag the final labels overruled is marked; the final ones match `studies`."""
    final = conn.execute("select count(distinct pmid) from tags where facet = 'condition' "
                         "and value = 'Depression' and final = 1").fetchone()[0]
    studies = conn.execute("select count(*) from studies s where exists "
                           "(select 1 from json_each(s.conditions) where value = 'Depression')").fetchone()[0]
    assert final == studies
    assert conn.execute("select count(*) from tags where final = 0").fetchone()[0] > 0
    assert conn.execute("select count(*) from tags where final is null").fetchone()[0] == 0


def test_new_records_for_a_condition_by_its_short_name(site):
    rows = site("/kaplit/new_for_condition.json?_shape=array&condition=PTSD").json()
    assert len(rows) == 100 and all("PTSD" in r["conditions"] for r in rows)
    assert [r["pmid"] for r in rows] == sorted((r["pmid"] for r in rows), reverse=True)
    assert site("/kaplit/new_for_condition.json?_shape=array&condition=").json()


@pytest.mark.parametrize("registry, count", [("ChiCTR", 30), ("ANZCTR", 15), ("EudraCT", 8), ("ISRCTN", 3),
                                             ("IRCT", 3), ("JPRN", 8)])
def test_registry_ids_of_every_major_registry_come_from_abstracts(conn, registry, count):
    found = conn.execute("select count(distinct pmid), min(url) from trial_registrations "
                         "where databank = ? and source = 'abstract'", [registry]).fetchone()
    assert found[0] >= count and found[1].startswith("https://")


def test_registry_ids_as_printed():
    from kaplit.pipeline.parse.normalize import registry_ids

    text = ("Registered at EudraCT Number: 2009\u2010012399\u201028 and ACTRN12619001334190p; also "
            "IRCT20220118053756N1, CTRI/2020/05/025123, jRCTs031190179, UMIN000016985, DRKS00012345, "
            "ChiCTR-OOC-17012239, ISRCTN12345678 and NCT01234567 (not NCT123).")
    assert dict((acc, reg) for reg, acc in registry_ids(text)) == {
        "2009-012399-28": "EudraCT", "ACTRN12619001334190p": "ANZCTR", "IRCT20220118053756N1": "IRCT",
        "CTRI/2020/05/025123": "CTRI", "jRCTs031190179": "JPRN", "UMIN000016985": "JPRN",
        "DRKS00012345": "DRKS", "ChiCTR-OOC-17012239": "ChiCTR", "ISRCTN12345678": "ISRCTN",
        "NCT01234567": "ClinicalTrials.gov"}


RETRACTION_OF = Path(__file__).parent / "fixtures" / "hand_written_retraction_of.xml"


def test_a_notice_with_retraction_of_flags_its_article_at_once(tmp_path, snapshot_db):
    """The notice's RetractionOf link flags 32412700 though the article's own record has no
    RetractionIn yet; the flag holds through a re-ingest of the article's own file."""
    import shutil

    from kaplit.config import snapshot_dir
    from kaplit.db.ingest import ingest_paths
    from kaplit.db.schema import open_db
    from kaplit.db.tags import retag
    from kaplit.pipeline.parse.sources import discover

    path = tmp_path / "kaplit.db"
    shutil.copy(snapshot_db, path)
    db = open_db(path)
    assert ingest_paths(db, [RETRACTION_OF], source="test", version="test").ok
    retag(db)
    flagged = "select is_retracted, correction_status from {} where pmid = 32412700"
    assert db.execute(flagged.format("articles")).fetchone() == (1, "retracted")
    assert db.execute(flagged.format("studies")).fetchone() == (1, "retracted")
    assert db.execute("select notice_pmid, kind, basis from notice_links where target_pmid = 32412700"
                      ).fetchall() == [(990000201, "retracted", "RetractionOf")]
    assert ingest_paths(db, discover([snapshot_dir()]), source="snapshot", version="test").ok
    retag(db)
    assert db.execute(flagged.format("studies")).fetchone() == (1, "retracted")


def test_citations_round_trip_latex_and_ris_specials():
    """Hand-written values with LaTeX's special characters (\\ ~ ^ & % $ # _ { }), non-ASCII
    letters and a group author come back as written through bibtexparser's LaTeX decoding and
    rispy."""
    from bibtexparser.middlewares import LatexDecodingMiddleware

    from kaplit.web.citations import bibtex, ris

    title = r"Ketamine ~ 50% & $5 #1 of {a_b} \ ^ in Zürich"
    article = {"pmid": 1, "record_type": "article", "title": title, "journal": "J Test", "journal_iso": None,
               "year": 2024, "pub_date": "2024-05", "volume": "3", "issue": None, "pages": "454-81",
               "doi": "10.1/x_y", "pmcid": None, "abstract": "Line one.\nLine two.", "book_title": None,
               "publisher": None, "keywords_text": "ketamine; PTSD",
               "authors": [{"last_name": "Müller", "fore_name": "Anna", "initials": "A", "collective_name": None},
                           {"last_name": None, "fore_name": None, "initials": None,
                            "collective_name": "KAP Study Group"}]}
    written = bibtex([article])
    assert "and {KAP Study Group}" in written  # a group in braces: one name to BibTeX
    library = bibtexparser.parse_string(written, append_middleware=[LatexDecodingMiddleware()])
    entry = library.entries[0]
    assert not library.failed_blocks
    # (pylatexenc decodes \textasciicircum as the modifier letter "ˆ", "--" as an en dash)
    assert entry["title"].replace("ˆ", "^") == title and entry["pages"] == "454–481"
    assert entry["author"] == "Müller, Anna and KAP Study Group"
    [reference] = rispy.loads(ris([article]))
    assert reference["title"] == title and reference["authors"] == ["Müller, Anna", "KAP Study Group"]
    assert reference["abstract"] == "Line one. Line two." and reference["keywords"] == ["ketamine", "PTSD"]


def test_the_readmes_example_sql_runs_and_finds_rows(conn):
    """Every statement of README.md's example SQL, on this database: it runs and finds something."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## Example SQL", 1)[1].split("```sql", 1)[1].split("```", 1)[0]
    statements = [s for s in block.split(";")
                  if any(line.strip() and not line.strip().startswith("--") for line in s.splitlines())]
    conn.create_function("escape_fts", 1, fts_query)
    assert len(statements) >= 7
    for statement in statements:
        assert conn.execute(statement).fetchall(), statement
