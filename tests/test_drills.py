"""Fault drills: a killed ingest or re-tag, a full disk, a damaged file. After each, the database
must pass SQLite's checks and hold exactly what an undisturbed run gives (or everything
committed before the failure)."""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.corpus import write_corpus
from kaplit.cli import cli
from kaplit.db import schema
from kaplit.db.ingest import ingest_paths
from kaplit.db.release import check
from kaplit.db.schema import STUDY_COLUMNS
from kaplit.db.tags import retag

FILES, PER_FILE = 4, 2500


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Real snapshot records with fresh PMIDs, in four files."""
    folder = tmp_path_factory.mktemp("drill-corpus")
    return [write_corpus(folder / f"part-{n}.xml.gz", PER_FILE, folders=("snapshot",), years=(1960, 2026),
                         first_pmid=800_000_000 + n * PER_FILE) for n in range(FILES)]


def fingerprint(path) -> dict:
    """Everything a user sees in the database, without the run's own timestamps."""
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    tables = [r[0] for r in conn.execute(
        "select name from sqlite_master where type = 'table' and name not like 'articles_fts%' "
        "and name not in ('crawl_runs', '_sqlite_migrations')")]
    found = {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in tables}
    found["articles"] = conn.execute("select pmid, content_hash from articles order by pmid").fetchall()
    found["tags"] = conn.execute("select pmid, facet, value, source, matched, start, end, rule from tags "
                                 "order by 1, 2, 3, 4, 6").fetchall()
    shown = ", ".join(c for c in STUDY_COLUMNS if c != "tagged_at")
    found["studies"] = conn.execute(f"select {shown} from studies order by pmid").fetchall()
    found["evidence_map"] = conn.execute("select * from evidence_map order by 1, 2").fetchall()
    found["search"] = conn.execute("select rowid from articles_fts where articles_fts match 'ketamine' "
                                   "order by rowid").fetchall()
    conn.close()
    return found


def count(path, sql):
    with sqlite3.connect(path, timeout=30) as conn:
        return conn.execute(sql).fetchone()[0]


def kill_when(command, path, ready_sql, timeout=120):
    """Start `kaplit COMMAND`, SIGKILL it as soon as `ready_sql` returns a true value."""
    process = subprocess.Popen([sys.executable, "-m", "kaplit", *command], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if path.exists() and count(path, ready_sql):
                break
        except sqlite3.OperationalError:
            pass  # tables not created yet, or locked by the writer
        time.sleep(0.05)
    assert process.poll() is None, "the command finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process


def kaplit(*args):
    return subprocess.run([sys.executable, "-m", "kaplit", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory, corpus):
    path = tmp_path_factory.mktemp("undisturbed") / "kaplit.db"
    result = kaplit("ingest", *corpus, "--db", path)
    assert result.returncode == 0, result.stderr
    return fingerprint(path)


def test_sigkill_during_ingest_then_rerun_gives_the_undisturbed_database(tmp_path, corpus, undisturbed):
    path = tmp_path / "kaplit.db"
    kill_when(["ingest", *map(str, corpus), "--db", str(path)], path, "select count(*) from articles")
    partial = count(path, "select count(*) from articles")
    assert 0 < partial < FILES * PER_FILE and partial % PER_FILE == 0  # whole files only
    assert check(path) == []
    result = kaplit("ingest", *corpus, "--db", path)
    assert result.returncode == 0, result.stderr
    assert fingerprint(path) == undisturbed


def test_sigkill_during_retag_then_rerun_leaves_no_stale_or_missing_tags(tmp_path, corpus):
    path = tmp_path / "kaplit.db"
    db = schema.open_db(path)
    assert ingest_paths(db, corpus, source="drill", version="test").ok
    db.close()
    reference = tmp_path / "reference.db"
    shutil.copy(path, reference)
    db = schema.open_db(reference)
    retag(db)
    db.close()
    kill_when(["retag", "--db", str(path)], path, "select count(*) from studies")
    assert 0 < count(path, "select count(*) from studies") < FILES * PER_FILE
    assert check(path) == []
    result = kaplit("retag", "--db", path)
    assert result.returncode == 0, result.stderr
    assert fingerprint(path) == fingerprint(reference)


def test_full_disk_is_a_clear_error_and_keeps_what_was_committed(tmp_path, corpus, monkeypatch):
    """The disk fills while the second file is written (SQLite's max_page_count stands in for a
    small filesystem): the message says so, exit 1, no traceback, the first file intact."""
    path = tmp_path / "kaplit.db"
    runner = CliRunner()
    first = runner.invoke(cli, ["ingest", str(corpus[0]), "--db", str(path)])
    assert first.exit_code == 0, first.stderr
    before = fingerprint(path)
    pages = count(path, "PRAGMA page_count")
    real_open_db = schema.open_db

    def nearly_full(*args, **kwargs):
        db = real_open_db(*args, **kwargs)
        db.execute(f"PRAGMA max_page_count = {pages + 50}")
        return db

    monkeypatch.setattr(schema, "open_db", nearly_full)
    result = runner.invoke(cli, ["ingest", str(corpus[1]), "--db", str(path)])
    assert result.exit_code == 1
    assert f"{path}: the disk is full" in result.stderr and "Traceback" not in result.output + result.stderr
    assert check(path) == []
    assert fingerprint(path) == before


def test_damaged_database_is_reported_by_check_and_by_every_command(tmp_path, corpus):
    path = tmp_path / "kaplit.db"
    assert kaplit("ingest", corpus[0], "--db", path).returncode == 0
    data = bytearray(path.read_bytes())
    data[4096 * 3: 4096 * 3 + 2000] = b"\xde\xad" * 1000  # overwrite part of a b-tree page
    path.write_bytes(bytes(data))
    checked = kaplit("check", "--db", path)
    assert checked.returncode == 1 and f"{path}: damaged" in checked.stdout + checked.stderr
    for command in (["retag", "--all"], ["ingest", corpus[1]]):
        result = kaplit(*command, "--db", path)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert str(path) in result.stderr


@pytest.mark.parametrize("fail", [False, True])
def test_worker_pool_ends_when_the_parent_caught_sigterm(fail):
    """`kaplit build` crawls with Scrapy, which catches SIGTERM, then tags in worker processes:
    the pool must still end, after its work and after an error (terminate relies on SIGTERM)."""
    code = f"""
import signal
signal.signal(signal.SIGTERM, lambda *args: None)  # what Scrapy's crawl leaves behind
from kaplit.db.workers import in_order, worker_pool
for _ in range(20):
    try:
        with worker_pool(2, True) as (pool, count):
            assert list(in_order(pool, pow, [(2, n) for n in range(50)])) == [2 ** n for n in range(50)]
            if {fail}:
                raise RuntimeError("stop")
    except RuntimeError:
        pass
print("ended")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0 and result.stdout.strip() == "ended", result.stderr
