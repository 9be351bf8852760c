"""Bad input: a clear message naming the file and reason, exit 1, nothing from the file written."""

from __future__ import annotations

import gzip

import pytest
from click.testing import CliRunner

from db.schema import open_db
from kaplit.cli import cli
from tests.conftest import count

# Hand-written bad inputs (no real records in them).
BAD_FILES = {
    "empty.xml": (b"", "empty file"),
    "page.xml": (b"<!DOCTYPE html>\n<html><body><h1>502 Bad Gateway</h1></body></html>", "root element is <html>"),
    "feed.xml": (b"<?xml version='1.0'?>\n<rss><channel><title>x</title></channel></rss>", "root element is <rss>"),
    "error.xml": (b"<?xml version='1.0'?>\n<eFetchResult><ERROR>Empty id list - nothing todo</ERROR></eFetchResult>",
                  "E-utilities error response, not records: Empty id list"),
    "latin1.xml": ("<?xml version='1.0' encoding='UTF-8'?>\n<PubmedArticleSet>\n<PubmedArticle>caf\xe9"
                   .encode("latin-1"), "line 3"),
    "notes.txt": (b"just some notes\nnothing medline here\n", "neither PubMed XML nor MEDLINE format"),
    "bad-utf8.nbib": (b"PMID- 990000021\nTI  - caf\xe9 au lait\n", "not valid UTF-8"),
}


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_is_rejected_clearly_and_good_files_still_load(tmp_path, efetch_dir, name):
    content, reason = BAD_FILES[name]
    bad = tmp_path / name
    bad.write_bytes(content)
    db_path = tmp_path / "k.db"
    result = run("ingest", bad, efetch_dir / "metapub" / "38011560.xml", "--db", db_path)
    assert result.exit_code == 1
    assert f"Rejected file {bad}: " in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.output + result.stderr
    db = open_db(db_path, create=False)
    assert [r[0] for r in db.execute("select pmid from articles")] == [38011560]


def test_truncated_file_writes_nothing_from_it(tmp_path, shared):
    source = shared / "pubmed" / "snapshot" / "ketamine" / "ketamine-001.xml.gz"
    data = gzip.decompress(source.read_bytes())
    cut = data[: int(len(data) * 0.8)]
    truncated = tmp_path / "truncated.xml"
    truncated.write_bytes(cut)
    db_path = tmp_path / "k.db"
    result = run("ingest", truncated, "--db", db_path)
    assert result.exit_code == 1
    last_line = cut.count(b"\n") + 1
    assert f"line {last_line}" in result.stderr
    db = open_db(db_path, create=False)
    assert count(db, "select count(*) from articles") == 0
    assert count(db, "select count(*) from articles_fts") == 0
    assert db.execute("select status, notes from crawl_runs").fetchone()[0] == "partial"


def test_truncated_gzip(tmp_path, shared):
    source = shared / "pubmed" / "snapshot" / "ketamine" / "ketamine-003.xml.gz"
    broken = tmp_path / "cut.xml.gz"
    broken.write_bytes(source.read_bytes()[:20000])
    result = run("ingest", broken, "--db", tmp_path / "k.db")
    assert result.exit_code == 1
    assert "broken gzip data" in result.stderr
    assert count(open_db(tmp_path / "k.db", create=False), "select count(*) from articles") == 0


def test_missing_path_is_named(tmp_path):
    result = run("ingest", tmp_path / "nowhere.xml", "--db", tmp_path / "k.db")
    assert result.exit_code == 1
    assert f"{tmp_path / 'nowhere.xml'}: no such file or folder" in result.stderr


def test_folder_without_pubmed_files(tmp_path):
    (tmp_path / "readme.md").write_text("nothing here")
    result = run("ingest", tmp_path, "--db", tmp_path / "k.db")
    assert result.exit_code == 1
    assert "no PubMed XML or MEDLINE files found" in result.stderr


def test_strict_rejects_a_file_with_an_unusable_record(tmp_path, shared):
    path = shared / "pubmed" / "medline" / "jabref" / "MedlinePlainImporterTestMultipleEntries.txt"
    lenient = run("ingest", path, "--db", tmp_path / "a.db")
    assert lenient.exit_code == 0
    assert "5 added" in lenient.output and "3 records rejected" in lenient.output
    strict = run("ingest", path, "--db", tmp_path / "b.db", "--strict")
    assert strict.exit_code == 1
    assert "record 2 has no valid PMID" in strict.stderr
    assert count(open_db(tmp_path / "b.db", create=False), "select count(*) from articles") == 0


def test_ingest_cli_summary_and_idempotence(tmp_path, efetch_dir):
    db_path = tmp_path / "k.db"
    first = run("ingest", efetch_dir / "tidypubmed", "--db", db_path)
    assert first.exit_code == 0, first.stderr
    assert "109 added, 0 updated, 1 unchanged" in first.output  # one PMID is in both files
    second = run("ingest", efetch_dir / "tidypubmed", "--db", db_path)
    assert "0 added, 0 updated, 110 unchanged" in second.output
