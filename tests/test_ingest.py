"""Ingesting into SQLite: counts, idempotence, revisions, deletions, full-text search."""

from __future__ import annotations

import gzip
import re

import pytest
from lxml import etree

from kaplit.config import snapshot_dir
from kaplit.db.ingest import ingest_file, ingest_paths
from kaplit.db.schema import CHILD_TABLES, open_db
from kaplit.pipeline.parse.sources import discover
from tests.conftest import SNAPSHOT_RECORDS, count

TABLES = ["articles", "authors", *CHILD_TABLES, "deleted_citations", "articles_fts"]


def table_counts(db):
    return {t: count(db, f"select count(*) from [{t}]") for t in TABLES}


def distinct_pmids_in(root):
    """Every PMID in the XML and MEDLINE files under root, found without our parser."""
    pmids = set()
    for path in discover([root]):
        if path.name.endswith((".xml", ".xml.gz")):
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as handle:
                tree = etree.parse(handle, etree.XMLParser(load_dtd=False, no_network=True, huge_tree=True))
            pmids.update(int(p) for p in tree.xpath(
                "//MedlineCitation/PMID[1]/text() | //BookDocument/PMID[1]/text()"))
        else:
            pmids.update(int(m) for m in re.findall(r"^PMID *- *(\d+)", path.read_text(), re.M))
    return pmids


def test_snapshot_ingests_with_exact_count(snapshot_db):
    db = open_db(snapshot_db, create=False)
    assert count(db, "select count(*) from articles") == SNAPSHOT_RECORDS
    assert count(db, "select count(distinct pmid) from articles") == SNAPSHOT_RECORDS
    assert count(db, "select count(*) from articles_fts where articles_fts match 'esketamine'") > 50
    assert count(db, "select count(*) from articles where year is null") > 0  # the snapshot lacks some dates
    run = db.execute("select kind, added, rejected, status from crawl_runs").fetchall()
    assert run == [("ingest", SNAPSHOT_RECORDS, 0, "ok")]


def test_all_shared_files_give_one_row_per_pmid_and_a_rerun_changes_nothing(tmp_path, shared):
    root = shared / "pubmed"
    db = open_db(tmp_path / "all.db")
    first = ingest_paths(db, discover([root]), source="all", version="test")
    assert first.ok, first.failures
    assert {r[0] for r in db.execute("select pmid from articles")} == distinct_pmids_in(root)
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    before = table_counts(db)
    hashes = dict(db.execute("select pmid, content_hash from articles").fetchall())

    second = ingest_paths(db, discover([root]), source="all", version="test")
    assert (second.counts.added, second.counts.updated, second.counts.deleted) == (0, 0, 0)
    assert second.counts.unchanged + second.counts.older_skipped + second.counts.rejected == second.counts.records_seen
    assert second.counts.unchanged >= len(hashes)
    assert table_counts(db) == before
    assert dict(db.execute("select pmid, content_hash from articles").fetchall()) == hashes


def test_revised_record_replaces_old_version_and_children(tmp_path, efetch_dir):
    """A newer DateRevised wins; the older version's child rows go with it (copies made at test time)."""
    original = (efetch_dir / "metapub" / "38011560.xml").read_text()
    revised = original.replace(
        "<DateRevised><Year>2023</Year><Month>12</Month><Day>11</Day>",
        "<DateRevised><Year>2024</Year><Month>06</Month><Day>01</Day>",
    )
    revised = re.sub(r"<KeywordList.*?</KeywordList>", "", revised, flags=re.S)
    revised = revised.replace("<LastName>Krystal</LastName>", "<LastName>Krystal-Revised</LastName>")
    assert revised != original
    (tmp_path / "old.xml").write_text(original)
    (tmp_path / "new.xml").write_text(revised)
    db = open_db(tmp_path / "rev.db")

    ingest_file(db, tmp_path / "new.xml")
    counts = ingest_file(db, tmp_path / "old.xml")
    assert counts.older_skipped == 1  # the older file does not overwrite the newer record
    ingest_file(db, tmp_path / "old.xml")

    db2 = open_db(tmp_path / "rev2.db")
    ingest_file(db2, tmp_path / "old.xml")
    assert count(db2, "select count(*) from mesh_headings where pmid = 38011560") > 0
    counts = ingest_file(db2, tmp_path / "new.xml")
    assert counts.updated == 1
    for target in (db, db2):
        assert target.execute("select date_revised from articles where pmid = 38011560").fetchone()[0] == "2024-06-01"
        authors = [r[0] for r in target.execute(
            "select au.display_name from authors au join article_authors on id = author_id where pmid = 38011560 "
            "order by position")]
        assert authors[0] == "Krystal-Revised JH"
        assert count(target, "select count(*) from authors where last_name = 'Krystal'") == 0
        assert count(target, "select count(*) from articles_fts where articles_fts match 'Krystal'") == 0
    assert table_counts(db) == table_counts(db2)


# Hand-written fixture (not a real record): DeleteCitation is in no file in ../shared.
def hand_written_article(pmid, title):
    return (f"<PubmedArticle><MedlineCitation Status=\"MEDLINE\" Owner=\"NLM\"><PMID Version=\"1\">{pmid}</PMID>"
            f"<Article><Journal><Title>Hand Journal</Title></Journal><ArticleTitle>{title}</ArticleTitle>"
            f"</Article></MedlineCitation></PubmedArticle>")


def test_delete_citation_removes_and_stays_deleted(tmp_path):
    baseline = tmp_path / "base.xml"
    update = tmp_path / "update.xml"
    baseline.write_text("<PubmedArticleSet>" + hand_written_article(990000011, "Kept ketamine note")
                        + hand_written_article(990000012, "Doomed ketamine note") + "</PubmedArticleSet>")
    update.write_text("<PubmedArticleSet><DeleteCitation><PMID Version=\"1\">990000012</PMID>"
                      "</DeleteCitation></PubmedArticleSet>")
    db = open_db(tmp_path / "del.db")
    for _ in range(2):  # the second pass must not resurrect the deleted record
        ingest_paths(db, [baseline, update], source="t", version="t")
        assert [r[0] for r in db.execute("select pmid from articles")] == [990000011]
        assert count(db, "select count(*) from articles_fts where articles_fts match 'doomed'") == 0
    assert count(db, "select count(*) from deleted_citations") == 1


def test_snapshot_location_comes_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KAPLIT_SNAPSHOT", str(tmp_path))
    assert snapshot_dir() == tmp_path


def test_worker_processes_build_the_same_database(tmp_path, shared):
    files = discover([shared / "pubmed" / "snapshot"])
    serial = open_db(tmp_path / "serial.db")
    parallel = open_db(tmp_path / "parallel.db")
    ingest_paths(serial, files, source="s", version="t", workers=0)
    report = ingest_paths(parallel, files, source="s", version="t", workers=2)
    assert report.ok and report.counts.added == SNAPSHOT_RECORDS
    assert table_counts(serial) == table_counts(parallel)
    query = "select pmid, content_hash from articles order by pmid"
    assert serial.execute(query).fetchall() == parallel.execute(query).fetchall()


@pytest.mark.parametrize("column, migration", [("details", "m004_study_details"),
                                               ("participant_count", "m005_participant_count")])
def test_a_database_from_before_a_studies_column_gets_it(tmp_path, column, migration):
    path = tmp_path / "old.db"
    db = open_db(path)
    for index in db["studies"].indexes:
        if index.columns == [column]:
            db.execute(f"DROP INDEX [{index.name}]")
    db.execute(f"ALTER TABLE studies DROP COLUMN [{column}]")
    db.execute("DELETE FROM _sqlite_migrations WHERE name = ?", [migration])
    assert column not in db["studies"].columns_dict
    db.close()
    assert column in open_db(path)["studies"].columns_dict
    assert column in open_db(path)["studies"].columns_dict  # and again: nothing to do
