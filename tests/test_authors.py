"""An author's name is what the record says: each authorship keeps the names its record gives,
linking authorships to one person (by ORCID or name) is a separate layer, and an ORCID given to
two differently named people is reported, not resolved by renaming one of them."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys

import lxml.html
import pytest

from kaplit.db.ingest import ingest_paths
from kaplit.db.schema import open_db
from kaplit.pipeline.parse.sources import discover
from kaplit.web.app import make_datasette

ORCID = "0000-0002-5757-1088"  # Sharma B on 29209492; the same ORCID on Kramer EM of 30145791


def byline(ds, pmid) -> list[str]:
    response = asyncio.run(ds.client.get(f"/article/{pmid}"))
    assert response.status_code == 200, pmid
    return [span.text.strip() for span in lxml.html.fromstring(response.text).cssselect("p.byline span.author")]


def record_names(db_path) -> dict[int, str]:
    """Each stored article's author list as its record gives it (`articles.authors`)."""
    with sqlite3.connect(db_path) as conn:
        return dict(conn.execute("select pmid, authors from articles where authors is not null"))


def test_every_article_page_shows_its_records_authors(site):
    """Every real record in the site's database (the snapshot and every efetch file): the page's
    authors, in order, collective names included, are the record's."""
    shown = {pmid: byline(site.ds, pmid) for pmid in record_names(site.db_path)}
    mismatched = {pmid: names for pmid, names in shown.items()
                  if ", ".join(names) != record_names(site.db_path)[pmid]}
    assert not mismatched, list(mismatched.items())[:5]
    assert len(shown) > 1_000  # the snapshot records exported without authors have none


def test_medline_records_keep_their_authors_too(tmp_path, shared):
    path = tmp_path / "medline.db"
    report = ingest_paths(open_db(path), discover([shared / "pubmed" / "medline"]), source="test", version="test")
    assert report.ok, report.failures
    ds = make_datasette(path)
    names = record_names(path)
    assert names and all(", ".join(byline(ds, pmid)) == text for pmid, text in names.items())


@pytest.fixture(scope="module")
def orcid_file(efetch_dir):
    return efetch_dir / "tidypubmed" / "aqc.xml"


def test_a_shared_orcid_renames_no_one(tmp_path, orcid_file):
    path = tmp_path / "k.db"
    assert ingest_paths(open_db(path), [orcid_file], source="test", version="test").ok
    ds = make_datasette(path)
    assert byline(ds, 29209492) == ["Sharma B", "Kramer EM"]
    assert byline(ds, 30145791)[-1] == "Kramer EM"
    ris = asyncio.run(ds.client.get("/k/articles.ris?pmid=29209492")).text
    assert "AU  - Sharma, B" in ris and "AU  - Kramer, Elena M" in ris
    with sqlite3.connect(path) as conn:
        assert conn.execute("select orcid, names from author_conflicts").fetchall() == [(ORCID, 2)]
        linked = conn.execute("select count(distinct author_id) from article_authors where orcid = ?", [ORCID])
        assert linked.fetchone()[0] == 1  # one person by ORCID, two names kept
    checked = subprocess.run([sys.executable, "-m", "kaplit", "check", "--db", str(path)],
                             capture_output=True, text=True)
    assert checked.returncode == 0
    assert f"ORCID {ORCID}" in checked.stdout and "Sharma B" in checked.stdout and "Kramer EM" in checked.stdout


def test_ingest_order_gives_the_same_tables(tmp_path, efetch_dir):
    files = [efetch_dir / "tidypubmed" / "aqc.xml", efetch_dir / "tidypubmed" / "dbc.xml"]
    dumps = []
    for order in (files, files[::-1]):
        path = tmp_path / f"k{len(dumps)}.db"
        db = open_db(path)
        for file in order:
            assert ingest_paths(db, [file], source="test", version="test").ok
        dumps.append({table: db.execute(f"select * from [{table}] order by 1, 2").fetchall()
                      for table in ("authors", "article_authors", "trial_registrations", "mesh_headings")})
    assert dumps[0] == dumps[1]


def test_a_database_made_before_gets_its_names_back_at_the_next_ingest(tmp_path, orcid_file):
    """A database from before m007 (its article_authors without names; Kramer shown for Sharma)
    is upgraded: the names it showed are kept until the next ingest of the same file, which
    writes the articles with ORCID authors again (their content hash was cleared)."""
    path = tmp_path / "old.db"
    assert ingest_paths(open_db(path), [orcid_file], source="test", version="test").ok
    with sqlite3.connect(path) as conn:  # back to the layout before m007
        conn.execute("drop view author_conflicts")
        for column in ("display_name", "last_name", "fore_name", "initials", "suffix", "collective_name", "orcid"):
            conn.execute(f"alter table article_authors drop column {column}")
        conn.execute("update authors set display_name = 'Kramer EM', last_name = 'Kramer' where orcid = ?", [ORCID])
        conn.execute("delete from _sqlite_migrations where name = 'm007_authorship_names'")
    db = open_db(path)
    assert db.execute("select display_name from article_authors where pmid = 29209492 and position = 1"
                      ).fetchone() == ("Kramer EM",)
    report = ingest_paths(db, [orcid_file], source="test", version="test")
    assert report.ok and report.counts.updated >= 2
    assert byline(make_datasette(path), 29209492) == ["Sharma B", "Kramer EM"]
