"""The clinician-facing pages (landing, article, feeds) and the site's refusal to write, through
Datasette's test client on real records plus one hand-written hostile record."""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.parse
import xml.etree.ElementTree as ET

import lxml.html
import pytest

PTSD = "Post-traumatic stress disorder (PTSD)"
RCT = "Randomized-controlled trial (RCT)"
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="module")
def sql(site):
    conn = sqlite3.connect(site.db_path)

    def query(statement, params=()):
        return conn.execute(statement, params).fetchall()

    return query


def page(site, path):
    response = site(path)
    assert response.status_code == 200, (path, response.text[:500])
    return lxml.html.fromstring(response.text)


def evidence_map(tree, uncertain=False) -> dict[tuple[str, str], tuple[int, str]]:
    """{(condition, design heading): (count, link)} from the landing page's table: of the studies
    listed, or with `uncertain`, of the "+N" others (RCTs and reviews of a less certain design)."""
    table = tree.cssselect("table.evidence-map")[0]
    headings = [th.text_content().strip() for th in table.cssselect("thead th")][1:]
    cells = {}
    for row in table.cssselect("tbody tr"):
        condition = row.cssselect("th")[0].text_content().strip()
        for heading, td in zip(headings, row.cssselect("td")):
            link = td.cssselect("a.uncertain" if uncertain else "a:not(.uncertain)")
            cells[condition, heading] = (int(link[0].text_content().strip("+").replace(",", "")) if link else 0,
                                         link[0].get("href") if link else None)
    return cells


@pytest.mark.parametrize("path, scope", [("/", "1"), ("/?ketamine=1", "ketamine = 1")])
def test_landing_evidence_map_counts_match_the_studies(site, sql, path, scope):
    """Each study once (a republished record is not counted again), and "any form of ketamine"
    as a scope of its own; every count is the length of the list its link opens."""
    tree = page(site, path)
    cells, others = evidence_map(tree), evidence_map(tree, uncertain=True)
    once = f"duplicate_of is null and {scope}"
    for design, heading in (("Randomized-controlled trial (RCT)", "RCTs"),
                            ("Systematic review/meta-analysis", "Reviews & meta-analyses"),
                            ("Real-world study", "Real-world")):
        for shown, certain in ((cells, "design_certain is not 0"), (others, "design_certain = 0")):
            assert shown["All studies", heading][0] == sql(
                f"select count(*) from studies where design = ? and {once} and {certain}", [design])[0][0]
            count, link = shown["Depression", heading]
            assert count == sql(
                f"select count(*) from studies s where design = ? and {once} and {certain} and exists "
                "(select 1 from json_each(s.conditions) where value = 'Depression')", [design])[0][0]
            if count:
                listed = site(link.replace("/kaplit/studies?", "/kaplit/studies.json?") + "&_size=1").json()
                assert listed["filtered_table_rows_count"] == count
    assert others["All studies", "RCTs"][0] > 0 and others["All studies", "Real-world"][0] == 0
    assert sum(n for (c, _), (n, _) in cells.items() if c == "All studies") + sum(
        n for (c, _), (n, _) in others.items() if c == "All studies") == sql(
        f"select count(*) from studies where design is not null and {once}")[0][0]


def test_the_ketamine_scope_holds_esketamine_and_arketamine(site, sql):
    """38863284, an esketamine trial in alcohol use disorder, is a ketamine study though its
    substances do not say "Ketamine"."""
    substances, ketamine = sql("select substances, ketamine from studies where pmid = 38863284")[0]
    assert "S-Ketamine" in json.loads(substances) and "Ketamine" not in json.loads(substances) and ketamine == 1
    forms = sql("select count(*) from studies where ketamine = 1 and substances not like '%\"Ketamine\"%'")[0][0]
    assert forms > 50
    assert sql("select count(*) from studies where ketamine = 1")[0][0] == sql(
        "select count(*) from studies s where exists (select 1 from json_each(s.substances) "
        "where value in ('Ketamine', 'S-Ketamine', 'R-Ketamine'))")[0][0]


def test_rcts_for_ptsd_in_two_clicks(site):
    """Landing page → the PTSD × RCT cell → an article page."""
    count, link = evidence_map(page(site, "/"))[PTSD, "RCTs"]
    assert count >= 20
    listing = site(link.replace("/kaplit/studies?", "/kaplit/studies.json?") + "&_shape=objects&_size=max").json()
    assert listing["filtered_table_rows_count"] == count
    assert all(PTSD in r["conditions"] and r["design"] == RCT and r["design_certain"] == 1 for r in listing["rows"])
    dates = [r["pub_date"] or "" for r in listing["rows"]]
    assert dates == sorted(dates, reverse=True)
    titles = page(site, link).cssselect("td.col-title a")
    assert titles and titles[0].get("href").startswith("/article/")
    article = page(site, titles[0].get("href"))
    assert PTSD in article.cssselect("section.study-tags")[0].text_content()


def test_esketamine_rcts_in_trd_are_certain_and_the_others_one_click_away(site, sql):
    """The guide's clinician question as a canned query: its RCTs are those whose design is
    certain; its description links the others, which the studies page lists."""
    tree = page(site, "/kaplit/esketamine_rcts_trd")
    listed = site("/kaplit/esketamine_rcts_trd.json?_shape=array").json()
    assert listed and {r["pmid"] for r in listed} == {pmid for (pmid,) in sql(
        "select pmid from studies where design = ? and design_certain = 1 and pmid in (select pmid from "
        "study_labels where facet = 'substances' and label = 'S-Ketamine') and pmid in (select pmid from "
        "study_labels where facet = 'details' and label = 'Treatment-resistant depression')", [RCT])}
    (others,) = [a.get("href") for a in tree.cssselect("a") if a.text_content() == "Those it is less sure are RCTs"]
    url = urllib.parse.urljoin("/kaplit/esketamine_rcts_trd", others)
    rows = site(url.replace("/kaplit/studies?", "/kaplit/studies.json?") + "&_shape=objects&_size=max").json()["rows"]
    assert rows and all(r["design_certain"] == 0 and "S-Ketamine" in r["substances"] for r in rows)
    assert not {r["pmid"] for r in rows} & {r["pmid"] for r in listed}


def test_an_article_says_when_its_design_is_not_certain(site, sql):
    """40215385, an open-label trial the tagger calls an RCT: its page says the design is not
    certain; a certain RCT's page says nothing of the kind."""
    uncertain = page(site, "/article/40215385").cssselect("p.design-uncertain")
    assert uncertain and "Randomized-controlled trial (RCT)" in uncertain[0].text_content()
    ((certain,),) = sql("select pmid from studies where design = ? and design_certain = 1 limit 1", [RCT])
    assert not page(site, f"/article/{certain}").cssselect("p.design-uncertain")


def test_landing_lists_newest_reviews_and_trials_chart_and_provenance(site, sql):
    tree = page(site, "/")
    blocks = {b.cssselect("h3")[0].text.strip(): b for b in tree.cssselect("section.latest")}
    newest = sql("select s.pmid from studies s, json_each(s.conditions) c where c.value = 'Depression' "
                 "and s.design = ? and s.design_certain = 1 order by s.pub_date desc, s.pmid desc limit 3", [RCT])
    rct_list = blocks["Depression"].cssselect("ol")[1]
    assert [a.get("href") for a in rct_list.cssselect("a")] == [f"/article/{p}" for (p,) in newest]
    lines = [p.cssselect("title")[0].text for p in tree.cssselect("svg.year-chart polyline")]
    biggest = sql("select condition from evidence_map where condition != 'All studies' and scope = 'all' "
                  "group by condition order by sum(studies) desc, condition limit 6")
    assert lines == [c for (c,) in biggest]
    provenance = tree.cssselect("p.provenance")[0].text_content()
    assert f"{sql('select count(*) from studies')[0][0]:,} studies" in provenance
    assert "rules-" in provenance
    assert tree.cssselect("form.kaplit-search input[name=q]")


def test_search_box_submits_to_ranked_full_text_search(site):
    form = page(site, "/").cssselect("form.kaplit-search")[0]
    results = page(site, form.get("action") + "?q=esketamine")
    titles = [a.text_content().lower() for a in results.cssselect("td.col-title a")]
    assert len(titles) > 20 and "esketamine" in titles[0]


def test_article_page_structured_abstract_with_markup_links_and_evidence(site, sql):
    pmid = 27797938  # biopython/pubmed4.xml: four labelled sections, <i>TERT</i>, PMC full text
    tree = page(site, f"/article/{pmid}")
    labels = [s.text_content() for s in tree.cssselect("section.abstract .section-label")]
    assert labels == [r[0] for r in sql("select label from abstract_sections where pmid = ? order by position", [pmid])]
    assert tree.cssselect("h1.article-title i")[0].text_content() == "TERT"
    links = {a.get("href") for a in tree.cssselect("ul.links a")}
    assert {f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/", "https://doi.org/10.1136/gutjnl-2016-312510",
            "https://pmc.ncbi.nlm.nih.gov/articles/PMC5442267/"} <= links
    marked = [m.text_content() for m in tree.cssselect("mark")]
    evidence = sql("select matched from tags where pmid = ? and start is not null", [pmid])
    assert evidence and all(any(word in m for m in marked) for (word,) in evidence)


def test_mesh_evidence_is_named_on_the_article_page(site, sql):
    pmid, matched, value = sql("select pmid, matched, value from tags where source = 'mesh' "
                               "and value = 'Treatment-resistant depression' order by pmid limit 1")[0]
    rows = [tr.text_content() for tr in page(site, f"/article/{pmid}").cssselect("section.study-tags tr")]
    assert any(value in row and f"“{matched}” in the MeSH headings" in row for row in rows)


def test_every_tag_with_offsets_is_highlighted_on_its_article_page(site, sql):
    pmids = [p for (p,) in sql("select distinct pmid from tags where source = 'abstract' order by pmid limit 40")]
    for pmid in pmids:
        tree = page(site, f"/article/{pmid}")
        marks = [(m.get("title"), m.text_content()) for m in tree.cssselect("mark")]
        for facet, value, matched in sql("select facet, value, matched from tags where pmid = ? "
                                         "and source in ('title', 'abstract')", [pmid]):
            assert any(f"{facet}: {value}" in title and matched in text for title, text in marks), (pmid, matched)


def test_taxonomy_page_lists_every_facet_and_who_decides_each_label(site):
    from kaplit.pipeline.tagging.linear import WEIGHTS
    from kaplit.pipeline.tagging.taxonomy import FACETS

    tree = page(site, "/taxonomy")
    headings = [h.text_content() for h in tree.cssselect("section.facet h2")]
    assert headings == [facet.replace("_", " ") for facet in FACETS]
    model = json.loads(WEIGHTS.read_text())
    decided, named = model["decides"]["condition"], model["from_title"]["condition"]
    rows = {tr.cssselect("td")[0].text_content(): tr.cssselect("td")[1].text_content()
            for tr in tree.cssselect("section.facet")[0].cssselect("tbody tr")}
    assert {label for label, by in rows.items() if by == "linear layer"} == set(decided) - set(named)
    assert {label for label, by in rows.items() if by == "linear layer, or the title naming it"} == set(named)
    assert "cross-validation" in tree.text_content()
    assert page(site, "/").cssselect('a[href="/taxonomy"]')
    trd = [a.get("href") for a in tree.cssselect("a") if a.text_content() == "Treatment-resistant depression"]
    studies = site(trd[0].replace("/kaplit/studies?", "/kaplit/studies.json?_shape=array&")).json()
    assert studies and all("Treatment-resistant depression" in json.loads(s["details"]) for s in studies)


def test_taxonomy_page_shows_how_far_each_label_can_be_trusted(site, shared):
    """Beside each condition label: its held-out precision, recall and F1, and how many gold
    abstracts carry it (counted here from the gold file itself)."""
    from collections import Counter

    from kaplit.pipeline.tagging.evaluate import load_gold
    from kaplit.pipeline.tagging.linear import WEIGHTS

    annotated = Counter(label for row in load_gold(shared / "gold" / "dev.jsonl.gz")
                        for label in row["labels"].get("condition") or ())
    table = page(site, "/taxonomy").cssselect("section.facet")[0]
    cells = {tr.cssselect("td")[0].text_content(): [td.text_content() for td in tr.cssselect("td")[2:]]
             for tr in table.cssselect("tbody tr")}
    shown = {label: int(numbers[3]) for label, numbers in cells.items() if len(numbers) == 4}
    assert annotated.keys() <= shown.keys() and all(n == annotated[label] for label, n in shown.items())
    precision, recall, f1, _ = map(float, cells["Substance abuse"])
    assert 0 < f1 < 0.5 and f1 == pytest.approx(2 * precision * recall / (precision + recall), abs=0.01)
    assert all(0.9 <= float(cells[label][0]) <= 1 for label in ("Depression", "Psychiatric condition"))
    low, high = json.loads(WEIGHTS.read_text())["cross_validated_weighted_f1"]["condition"]["combined_95"]
    text = " ".join(table.text_content().split())
    assert low < high and f"95% of scores fall between {low:.3f} and {high:.3f}" in text


def test_article_page_flags_tags_annotators_seldom_agree_with(site, sql):
    """Each tag of a gold label shows its held-out precision; below LOW_PRECISION the cell says to
    check the evidence (a study tagged "Substance abuse", precision 0.30), above it does not."""
    from kaplit.web.article import LOW_PRECISION
    from kaplit.web.taxonomy import held_out_precision

    precision = held_out_precision(json.loads(sql("select model from tagger")[0][0]))
    checked = set()
    for facet, value in [("condition", "Substance abuse"), ("condition", "Depression")]:
        pmid = sql("select pmid from tags where facet = ? and value = ? order by pmid limit 1", [facet, value])[0][0]
        rows = [tr for tr in page(site, f"/article/{pmid}").cssselect("section.study-tags tbody tr")
                if [td.text_content() for td in tr.cssselect("td")[:2]] == [facet, value]]
        cell = rows[0].cssselect("td.precision")[0]
        assert cell.text_content().startswith(f"{precision[facet, value]:.2f}")
        checked.add(("low" in cell.get("class").split(), precision[facet, value] < LOW_PRECISION))
    assert checked == {(True, True), (False, False)}


def test_linear_tags_show_their_reasons_on_the_article_page(site, sql):
    pmid, rule, matched = sql("select pmid, rule, matched from tags where rule like 'linear:%' "
                              "and source = 'abstract' order by pmid limit 1")[0]
    tree = page(site, f"/article/{pmid}")
    assert rule in [code.text_content() for code in tree.cssselect("code")]
    assert any(matched in m.text_content() for m in tree.cssselect("mark"))


def test_taxonomy_page_gives_the_nested_figure_and_when_a_design_is_listed(site):
    """Beside each plain cross-validated F1, the nested one; for RCTs and systematic reviews, the
    probability from which a design is listed as certain and its nested precision. The
    evidence map's "+N" opens the others."""
    from kaplit.pipeline.tagging.linear import WEIGHTS

    model = json.loads(WEIGHTS.read_text())
    tree = page(site, "/taxonomy")
    nested = [float(span.text) for span in tree.cssselect("span.nested")]
    assert sorted(nested) == sorted(round(f1, 3) for f1 in model["nested_cross_validated_weighted_f1"].values())
    certain = " ".join(tree.cssselect("p.certain")[0].text_content().split())
    for design, listed in model["nested_certain_designs"].items():
        assert (f"{design}: from p = {model['certain_designs'][design]:.2f}" in certain
                and f"nested precision {listed['precision']:.3f}" in certain), certain


def test_taxonomy_page_explains_every_feature_a_linear_tag_names(site, sql):
    """Each feature named in the snapshot's linear tags ("... (a*random +1.52, r:...)") is of a
    kind the /taxonomy page explains; the evidence is the word of one of them (the first found in
    the text: "RESULTS:" or a bare number is no evidence), for a stem the whole word it begins."""

    explained = [row.cssselect("code")[0].text_content()[:2]
                 for row in page(site, "/taxonomy").cssselect("section.feature-kinds tbody tr")]
    def reasons(rule):  # "linear:task:label p=0.97 (name +1.52, name -0.30)" -> the names
        why = rule.split(" p=", 1)[1].split(" (", 1)[1][:-1]
        return re.findall(r"(.+?) [+-]\d+\.\d\d(?:, |$)", why)

    rules = [rule for (rule,) in sql("select rule from tags where rule like 'linear:% p=% (%)'")]
    named = {name for rule in rules for name in reasons(rule)}
    assert len(named) > 50 and {name[:2] for name in named} <= set(explained)
    stems = sql("select matched, rule from tags where rule like 'linear:% p=% (_*%' and matched is not null")
    assert stems
    for matched, rule in stems:  # the evidence is the word of the strongest reason found in the text
        located = [name for name in reasons(rule) if matched.lower().startswith(name[2:])]
        assert located, (matched, rule)
        assert located[0][1] != "*" or len(matched) > 6, (matched, rule)  # a stem: the whole (longer) word
    numbers = sql("select count(*) from tags where rule like 'linear:%' and matched glob '[0-9]*' "
                  "and matched not glob '*[^0-9]*'")[0][0]
    assert numbers == 0  # a bare number ("0" of "p=0.048") is no evidence to show


def test_article_page_shows_the_words_an_evidence_level_follows_from(site, sql):
    pmid, matched = sql("select pmid, matched from tags where facet = 'evidence_level' and matched is not null "
                        "order by pmid limit 1")[0]
    rows = [[td.text_content() for td in tr.cssselect("td")]
            for tr in page(site, f"/article/{pmid}").cssselect("section.study-tags tbody tr")]
    [level] = [row for row in rows if row[0] == "evidence level"]
    assert level[2].startswith(f"“{matched}” in the ")
    assert level[3].startswith("derived:evidence_level from study_design:")


def test_article_page_links_registered_trials(site, sql):
    pmid, accession = sql("select pmid, accession from trial_registrations "
                          "where databank = 'ClinicalTrials.gov' order by pmid limit 1")[0]
    hrefs = [a.get("href") for a in page(site, f"/article/{pmid}").cssselect("ul.links a")]
    assert f"https://clinicaltrials.gov/study/{accession}" in hrefs


def test_retracted_article_has_a_banner_and_a_badge(site):
    tree = page(site, "/article/990000101")  # hand-written fixture
    banner = tree.cssselect("div.banner-danger")[0].text_content()
    assert "retracted" in banner and "Hand-written J. 2026" in banner
    listing = site("/kaplit/studies.json?is_retracted=1&_shape=array").json()
    # and the two articles whose retraction notices (39126500, 39126501) name them by title
    assert sorted(r["pmid"] for r in listing) == [31065731, 32500209, 990000101]
    assert page(site, "/article/27797938").cssselect("div.banner") == []


def _inert(html: str):
    lowered = html.lower()
    for hostile in ("<script>alert", "onclick", "onerror", "onmouseover", "javascript:", "<img"):
        assert hostile not in lowered, hostile


def test_hostile_markup_in_a_record_renders_inert(site):
    response = site("/article/990000101")
    body = response.text.split('<section class="content">')[1]
    _inert(body)
    tree = lxml.html.fromstring(response.text)
    assert "<script>alert('escaped')</script>" in tree.cssselect("section.abstract")[0].text_content()
    assert tree.cssselect("section.abstract b")[0].attrib == {}


def test_hostile_markup_written_straight_into_the_database_renders_inert(site_db, tmp_path):
    """The site does not trust the file it serves: markup that no parser produced is cleaned too."""
    import asyncio
    import shutil

    from kaplit.web.app import make_datasette

    tampered = tmp_path / "kaplit.db"
    shutil.copy(site_db, tampered)
    with sqlite3.connect(tampered) as conn:
        conn.execute("update articles set title_html = ? where pmid = 27797938",
                     ["<script>alert(1)</script><i onclick=\"alert(2)\">TERT</i><img src=x onerror=alert(3)>"])
        conn.execute("update abstract_sections set html = '<b onmouseover=alert(4)>x</b>' || html "
                     "where pmid = 27797938")
    response = asyncio.run(make_datasette(tampered).client.get("/article/27797938"))
    assert response.status_code == 200
    _inert(response.text.split('<section class="content">')[1])


def test_unknown_article_is_a_404(site):
    response = site("/article/999999999")
    assert response.status_code == 404 and "999999999" in response.text


def test_studies_table_facets_for_clinicians(site):
    data = site("/kaplit/studies.json?_size=5").json()
    assert {"conditions", "details", "design", "routes", "substances", "kap", "year", "journal",
            "is_retracted"} <= set(data["facet_results"])
    conditions = {v["value"] for v in data["facet_results"]["conditions"]["results"]}
    assert {"Depression", PTSD} <= conditions
    details = {v["value"] for v in data["facet_results"]["details"]["results"]}
    assert {"Treatment-resistant depression", "Suicidal ideation/behaviour", "Open-label/single-arm"} <= details


def test_atom_feed_follows_a_condition(site):
    query = urllib.parse.urlencode({"condition": "Depression"})
    rows = site(f"/kaplit/new_for_condition.json?{query}&_shape=array").json()
    response = site(f"/kaplit/new_for_condition.atom?{query}")
    assert response.status_code == 200 and "atom+xml" in response.headers["content-type"]
    feed = ET.fromstring(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == len(rows) == 100
    assert [e.find(f"{ATOM}id").text for e in entries] == [
        f"https://pubmed.ncbi.nlm.nih.gov/{r['pmid']}/" for r in rows]
    assert entries[0].find(f"{ATOM}link").get("href").endswith(f"/article/{rows[0]['pmid']}")
    assert "Depression" in feed.find(f"{ATOM}title").text


def test_atom_feed_of_a_condition_without_records_is_empty_not_an_error(site):
    response = site("/kaplit/new_for_condition.atom?condition=Nothing+like+this")
    assert response.status_code == 200
    assert ET.fromstring(response.content).findall(f"{ATOM}entry") == []


@pytest.mark.parametrize("method, path, data", [
    ("post", "/kaplit", {"sql": "delete from articles"}),
    ("post", "/kaplit/search", {"q": "x"}),
    ("post", "/kaplit/articles", {"title": "x"}),
    ("post", "/kaplit/articles/-/insert", {"row": {"pmid": 1}}),
    ("post", "/kaplit/articles/27797938/-/delete", {}),
    ("put", "/kaplit/articles", {}),
    ("delete", "/kaplit/articles/27797938", None),
])
def test_write_attempts_are_refused(site, sql, method, path, data):
    before = sql("select count(*), total(length(title)) from articles")
    kwargs = {"json": data} if method in ("post", "put") else {}
    response = site(path, method=method, **kwargs)
    assert 400 <= response.status_code < 500
    assert sql("select count(*), total(length(title)) from articles") == before


@pytest.mark.parametrize("statement", [
    "delete from articles", "update articles set title = 'x'", "drop table articles",
    "insert into articles (pmid) values (1)", "pragma writable_schema = 1",
])
def test_sql_that_writes_is_refused(site, sql, statement):
    before = sql("select count(*) from articles")
    response = site("/kaplit.json?" + urllib.parse.urlencode({"sql": statement}))
    assert response.status_code in (400, 403)
    assert sql("select count(*) from articles") == before


def test_a_mutable_database_shows_its_changes_at_once(site_db, tmp_path):
    """Rows, counts and facets of a --mutable server come from the file as it is now (the bitmaps
    behind the facets of an immutable one are read once)."""
    import asyncio
    import shutil

    from kaplit.web.app import make_datasette

    copy = tmp_path / "kaplit.db"
    shutil.copy(site_db, copy)
    ds = make_datasette(copy, mutable=True)
    path = "/kaplit/studies.json?is_retracted=1&_shape=objects"

    def retracted():
        page = asyncio.run(ds.client.get(path)).json()
        counted = {v["value"]: v["count"] for v in page["facet_results"]["is_retracted"]["results"]}
        return len(page["rows"]), page["filtered_table_rows_count"], counted[1]

    assert retracted() == (3, 3, 3)
    with sqlite3.connect(copy) as conn:
        conn.execute("update studies set is_retracted = 1 where pmid = 27797938")
    assert retracted() == (4, 4, 4)


def test_taxonomy_describes_the_tagger_that_tagged_the_served_database(site_db, tmp_path, sql):
    """The `tagger` row written at the re-tag is the installed model file but its weights; a
    database tagged by another tagger shows that tagger's version and scores."""
    import asyncio
    import shutil

    from kaplit.pipeline.tagging.linear import WEIGHTS
    from kaplit.web.app import make_datasette

    (version, model), = sql("select version, model from tagger")
    installed = json.loads(WEIGHTS.read_text())
    assert json.loads(model) == {k: v for k, v in installed.items() if k != "models"}
    assert sql("select distinct tagger_version from studies") == [(version,)]
    copy = tmp_path / "kaplit.db"
    shutil.copy(site_db, copy)
    with sqlite3.connect(copy) as conn:
        other = json.loads(model)
        other["cross_validated_weighted_f1"]["condition"]["combined"] = 0.123
        conn.execute("update tagger set version = 'rules-0+other', model = ?", [json.dumps(other)])
        conn.execute("update studies set tagger_version = 'rules-0+other'")
    text = asyncio.run(make_datasette(copy).client.get("/taxonomy")).text
    assert "rules-0+other" in text and "0.123" in text and version not in text


def test_a_database_served_mutable_shows_a_tagger_written_while_it_is_served(site_db, tmp_path):
    """Read once for an immutable file, which cannot change while served; anew for a mutable one."""
    import asyncio
    import shutil

    from kaplit.web.app import make_datasette

    copy = tmp_path / "kaplit.db"
    shutil.copy(site_db, copy)

    async def before_and_after(ds):
        before = (await ds.client.get("/taxonomy")).text
        with sqlite3.connect(copy) as conn:
            (model,), = conn.execute("select model from tagger")
            changed = json.loads(model)
            changed["cross_validated_weighted_f1"]["condition"]["combined"] = 0.123
            conn.execute("update tagger set model = ?", [json.dumps(changed)])
        return before, (await ds.client.get("/taxonomy")).text

    before, after = asyncio.run(before_and_after(make_datasette(copy, mutable=True)))
    assert "0.123" not in before and "0.123" in after
