"""MEDLINE / .nbib exports parsed with Bio.Medline, on the real files in ../shared."""

from __future__ import annotations

from kaplit.pipeline.parse.record import Article, Rejected
from kaplit.pipeline.parse.sources import read_records


def parse(shared, relative):
    return list(read_records(shared / "pubmed" / "medline" / relative))


def test_every_medline_file_parses(shared):
    files = sorted((shared / "pubmed" / "medline").rglob("*.*"))
    assert len(files) == 7
    for path in files:
        items = list(read_records(path))
        assert items, path
        articles = [i for i in items if isinstance(i, Article)]
        expected = sum(1 for line in path.read_text().splitlines() if line.startswith("PMID"))
        assert len(articles) == expected, path


def test_nbib_fields(shared):
    (article,) = parse(shared, "jabref/NbibImporterTest.nbib")
    row = article.article
    assert row["pmid"] == 27169098
    assert row["doi"] == "10.4103/2277-9175.180636"
    assert row["issn"] == "2277-9175"
    assert row["year"] == 2016
    assert row["entrez_date"] == "2016-05-12"
    assert [a["display_name"] for a in article.authors] == ["Shruthi BS", "Vinodhkumar P", "Selvamani", "corporater"]
    assert article.authors[0]["affiliations"][0].startswith("Department of Oral and Maxillofacial")
    assert [k["keyword"] for k in article.keywords][:2] == ["Biomarkers", "electrophoresis"]
    assert [p["name"] for p in article.publication_types] == ["Journal Article", "Review"]


def test_mesh_qualifiers_and_major_topics(shared):
    (article,) = parse(shared, "jabref/MedlinePlainImporterTestCompleteEntry.txt")
    headings = {m["descriptor"]: m for m in article.mesh}
    women = headings["Women, Working"]
    assert (women["qualifiers"], women["major_topic"], women["heading"]) == (
        "history, psychology", 1, "Women, Working/*history/psychology")
    assert headings["Attitude to Health"]["major_topic"] == 0
    assert article.grants[0] == {"grant_id": "076053/Z/04/Z", "acronym": None,
                                 "agency": "Wellcome Trust", "country": "United Kingdom"}
    assert article.article["pmcid"] == "PMC4513071"


def test_tag_lines_without_space_keep_every_digit(shared):
    """"PMID-22664220" must not lose digits (Bio.Medline alone slices it to 664220)."""
    items = parse(shared, "jabref/MedlinePlainImporterTestMultipleEntries.txt")
    pmids = [i.pmid for i in items if isinstance(i, Article)]
    assert pmids == [20481061, 22664220, 22664238, 96578310, 45984220]
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert len(rejected) == 3 and all("no valid PMID" in r.reason for r in rejected)


def test_multi_line_title_is_joined(shared):
    items = parse(shared, "biopython/pubmed_result2.txt")
    assert len(items) == 4
    titles = {i.pmid: i.article["title"] for i in items}
    assert titles[16403221] == "A high level interface to SCOP and ASTRAL implemented in python."
    assert items[0].article["abstract"].startswith("BACKGROUND: Benchmarking algorithms")
