"""Shared fixtures. Real data is read in place from ../shared (or $KAPLIT_SHARED), never copied."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from kaplit.config import shared_dir, snapshot_dir
from kaplit.db.ingest import ingest_paths
from kaplit.db.schema import open_db
from kaplit.db.tags import retag
from kaplit.pipeline.parse.sources import discover
from kaplit.web.app import make_datasette

SNAPSHOT_RECORDS = 2498  # documented in shared/DATA.md


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not (path / "pubmed").is_dir():
        pytest.fail(f"the shared data folder is missing at {path} (set KAPLIT_SHARED)")
    return path


@pytest.fixture(scope="session")
def efetch_dir(shared) -> Path:
    return shared / "pubmed" / "efetch"


@pytest.fixture(scope="session")
def snapshot_db(tmp_path_factory, shared) -> Path:
    """The 2,498-record snapshot ingested once for the whole session (read-only use)."""
    path = tmp_path_factory.mktemp("snapshot") / "kaplit.db"
    db = open_db(path)
    report = ingest_paths(db, discover([snapshot_dir()]), source="snapshot", version="test")
    assert report.ok, report.failures
    db.close()
    return path


HAND_WRITTEN_SITE = Path(__file__).parent / "fixtures" / "hand_written_site.xml"


@pytest.fixture(scope="session")
def site_db(tmp_path_factory, snapshot_db, efetch_dir) -> Path:
    """What the site serves in tests: the snapshot, every real efetch record (structured
    abstracts, markup, trial registrations, errata) and one hand-written retracted record with
    hostile markup, all tagged."""
    path = tmp_path_factory.mktemp("site") / "kaplit.db"
    shutil.copy(snapshot_db, path)
    db = open_db(path)
    report = ingest_paths(db, discover([efetch_dir, HAND_WRITTEN_SITE]), source="test", version="test")
    assert report.ok, report.failures
    retag(db)
    db.close()
    return path


@pytest.fixture(scope="session")
def site(site_db):
    """GET (or any method) on the served site through Datasette's test client."""
    ds = make_datasette(site_db)

    def fetch(path, method="get", **kwargs):
        return asyncio.run(getattr(ds.client, method)(path, **kwargs))

    fetch.ds = ds
    fetch.db_path = site_db
    return fetch


def count(db, sql, params=()):
    return db.execute(sql, params).fetchone()[0]
