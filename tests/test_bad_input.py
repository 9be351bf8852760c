"""Bad input: a clear message naming the file and reason, exit 1, nothing from the file written."""

from __future__ import annotations

import gzip

import pytest
from click.testing import CliRunner

from kaplit.cli import cli
from kaplit.db.schema import open_db
from tests.conftest import count


# Hand-written bad inputs (no real records in them).
def hand_written_record(pmid, title="Hand-written title", date="<PubDate><Year>2020</Year></PubDate>",
                        abstract="A hand-written abstract.", revised="2020") -> str:
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f"<DateRevised><Year>{revised}</Year><Month>01</Month><Day>01</Day></DateRevised><Article><Journal>"
            f"<JournalIssue>{date}</JournalIssue><Title>Hand J</Title></Journal><ArticleTitle>{title}</ArticleTitle>"
            f"<Abstract><AbstractText>{abstract}</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>")


def article_set(*records: str, prolog='<?xml version="1.0"?>\n') -> bytes:
    return (prolog + "<PubmedArticleSet>\n" + "\n".join(records) + "\n</PubmedArticleSet>\n").encode()


NESTED = "<i>" * 5000 + "deep" + "</i>" * 5000
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdef", "bcdefg")) + "]>\n")

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
    "garbage.xml.gz": (gzip.compress(bytes(range(256)) * 64), "neither PubMed XML nor MEDLINE format"),
    "utf16.xml": (article_set(hand_written_record(990000022)).decode().encode("utf-16"), "UTF-16 text"),
    "laughs.xml": (article_set(hand_written_record(990000023, title="&g;"), prolog=LAUGHS),
                   "Entity 'g' not defined"),
    "nested-5000.xml": (article_set(hand_written_record(990000024, title=NESTED)), "Excessive depth"),
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
    assert lenient.exit_code == 1  # the usable records are stored, the others named
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


# One unusable record among good ones: the good ones load, the bad one is named, exit 1.
BAD_RECORDS = {
    "PMID is not a number": (hand_written_record("abc"), "no valid PMID ('abc')"),
    "no PMID": (hand_written_record(990000041).replace('<PMID Version="1">990000041</PMID>', ""), "no valid PMID"),
    "10 MB abstract": (hand_written_record(990000042, abstract="word " * 2_100_000),
                       "abstract of 10,499,999 characters is not plausible"),
    "markup 1,500 levels deep": (hand_written_record(990000043, title="<i>" * 1500 + "x" + "</i>" * 1500),
                                 "nested too deeply"),
}


@pytest.mark.parametrize("kind", sorted(BAD_RECORDS))
def test_unusable_record_is_named_and_the_rest_of_the_file_loads(tmp_path, kind):
    bad, reason = BAD_RECORDS[kind]
    path = tmp_path / "mixed.xml"
    path.write_bytes(article_set(hand_written_record(990000051), bad, hand_written_record(990000052)))
    result = run("ingest", path, "--db", tmp_path / "k.db")
    assert result.exit_code == 1
    assert f"skipped record: {path}: line 4: " in result.stderr and reason in result.stderr
    assert "Traceback" not in result.output + result.stderr
    db = open_db(tmp_path / "k.db", create=False)
    assert [r[0] for r in db.execute("select pmid from articles order by pmid")] == [990000051, 990000052]
    assert count(db, "select count(*) from articles_fts") == 2


def test_absurd_publication_date_is_kept_as_text_not_as_a_date(tmp_path):
    path = tmp_path / "dates.xml"
    path.write_bytes(article_set(hand_written_record(
        990000061, date="<PubDate><Year>20201</Year><Month>13</Month><Day>45</Day></PubDate>")))
    assert run("ingest", path, "--db", tmp_path / "k.db").exit_code == 0
    row = open_db(tmp_path / "k.db", create=False).execute(
        "select year, pub_date, pub_date_text from articles").fetchone()
    assert row == (None, None, "20201 13 45")


def test_duplicate_pmids_in_one_file_keep_the_newest_revision(tmp_path):
    path = tmp_path / "twice.xml"
    path.write_bytes(article_set(hand_written_record(990000071, title="Newer", revised="2022"),
                                 hand_written_record(990000071, title="Older", revised="2021")))
    result = run("ingest", path, "--db", tmp_path / "k.db")
    assert result.exit_code == 0 and "1 added" in result.output and "1 superseded" in result.output
    db = open_db(tmp_path / "k.db", create=False)
    assert db.execute("select title, date_revised from articles").fetchall() == [("Newer", "2022-01-01")]
