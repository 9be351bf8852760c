"""Shared fixtures. Real data is read in place from ../shared (or $KAPLIT_SHARED), never copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.ingest import ingest_paths
from db.schema import open_db
from kaplit.config import shared_dir, snapshot_dir
from pipeline.sources import discover

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


def count(db, sql, params=()):
    return db.execute(sql, params).fetchone()[0]
