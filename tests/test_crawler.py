"""The real spider, over real HTTP, against the stand-in E-utilities server on 127.0.0.1.

Each crawl runs `kaplit crawl` in its own process (Scrapy's reactor cannot restart); the server
runs in another, serving real records from ../shared and logging every request it answers.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from testing.standin import StandIn

RECORDS = 26_000


def crawl(db: Path, url: str, *args: str, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kaplit", "crawl", "--db", str(db), "--eutils-url", url, *args],
                          capture_output=True, text=True, timeout=timeout)


def most_in_one_second(requests) -> int:
    times = sorted(r["t"] for r in requests)
    return max((sum(1 for u in times[i:i + 20] if u < t + 1.0) for i, t in enumerate(times)), default=0)


def articles(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("select pmid, content_hash from articles order by pmid").fetchall()


def table_counts(db: Path) -> dict:
    tables = ["articles", "authors", "article_authors", "mesh_headings", "abstract_sections", "keywords",
              "publication_types", "articles_fts"]
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"select count(*) from [{t}]").fetchone()[0] for t in tables}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    standin = StandIn(tmp_path_factory.mktemp("standin"), "--records", str(RECORDS))
    yield standin
    standin.stop()


@pytest.fixture(scope="module")
def full_crawl(server, tmp_path_factory):
    """One uninterrupted crawl of the whole corpus, shared by the tests that compare with it."""
    db = tmp_path_factory.mktemp("full") / "full.db"
    server.reset_log()
    result = crawl(db, server.url)
    return db, result, server.requests()


def test_complete_crawl_across_date_windows(full_crawl):
    db, result, requests = full_crawl
    assert result.returncode == 0, result.stderr
    stored = articles(db)
    assert len(stored) == RECORDS and len({p for p, _ in stored}) == RECORDS
    searches = [r for r in requests if r["endpoint"] == "esearch.fcgi"]
    assert len(searches) >= 5  # 26,000 ids do not fit one esearch: the window was split
    assert len(requests) / (RECORDS / 10_000) <= 30
    assert most_in_one_second(requests) <= 3
    assert all(r["params"].get("tool") == "kaplit" for r in requests)
    assert f"{RECORDS} added" in result.stdout


def test_immediate_rerun_makes_two_requests(full_crawl, server, tmp_path):
    db, _, _ = full_crawl
    copy = tmp_path / "rerun.db"
    copy.write_bytes(db.read_bytes())
    server.reset_log()
    result = crawl(copy, server.url)
    assert result.returncode == 0, result.stderr
    assert len(server.requests()) == 2
    assert articles(copy) == articles(db)


def test_sigkill_then_resume_gives_the_same_database(full_crawl, server, tmp_path):
    db, _, _ = full_crawl
    killed = tmp_path / "killed.db"
    process = subprocess.Popen([sys.executable, "-m", "kaplit", "crawl", "--db", str(killed),
                                "--eutils-url", server.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if killed.exists() and 5_000 < _count_quietly(killed) < RECORDS:
            break
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = _count_quietly(killed)
    assert 0 < partial < RECORDS
    server.reset_log()
    result = crawl(killed, server.url)
    assert result.returncode == 0, result.stderr
    assert articles(killed) == articles(db)
    assert table_counts(killed) == table_counts(db)
    fetched = sum(r["ids"] or int(r["params"].get("retmax", 0)) for r in server.requests()
                  if r["endpoint"] == "efetch.fcgi")
    assert fetched <= RECORDS - partial + 1_000  # the resumed crawl fetched (about) only what was missing


def _count_quietly(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("select count(*) from articles").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_exact_result_under_twenty_percent_faults(full_crawl, tmp_path):
    db, _, _ = full_crawl
    standin = StandIn(tmp_path, "--records", str(RECORDS), "--fault-rate", "0.2", "--seed", "4",
                      "--slow-seconds", "1")
    try:
        faulty = tmp_path / "faulty.db"
        result = crawl(faulty, standin.url)
        requests = standin.requests()
    finally:
        standin.stop()
    assert result.returncode == 0, result.stderr
    faults = Counter(r["fault"] for r in requests if r["fault"])
    assert sum(faults.values()) >= 0.1 * len(requests) and len(faults) >= 4, faults
    assert articles(faulty) == articles(db)
    assert most_in_one_second(requests) <= 3


def test_every_fault_kind_is_survived(tmp_path):
    standin = StandIn(tmp_path, "--records", "5000", "--fault-rate", "0.3", "--seed", "11",
                      "--slow-seconds", "1")
    try:
        db = tmp_path / "faults.db"
        result = crawl(db, standin.url, "--batch-size", "100")
        requests = standin.requests()
    finally:
        standin.stop()
    assert result.returncode == 0, result.stderr
    kinds = {r["fault"] for r in requests if r["fault"]}
    assert kinds == {"429", "500", "502", "503", "slow", "truncated", "error_body", "drop"}
    assert len({p for p, _ in articles(db)}) == 5000 == len(articles(db))
    def same(a, b):
        return (a["endpoint"], a["params"], a["ids"]) == (b["endpoint"], b["params"], b["ids"])

    waits = [next(later["t"] for later in requests[i + 1:] if same(later, r)) - r["t"]
             for i, r in enumerate(requests) if r["fault"] == "429"]
    assert waits and min(waits) >= 0.95  # the server said Retry-After: 1


def crawl_then_update(tmp_path, records: int, *later_args: str, between=None):
    """A first crawl of `records`, `between(db)` if given, then a crawl of a stand-in where
    `later_args` (--extra-today, --revised-today) changed PubMed: (db, result, requests)."""
    first = StandIn(tmp_path, "--records", str(records))
    db = tmp_path / "updated.db"
    try:
        assert crawl(db, first.url).returncode == 0
    finally:
        first.stop()
    if between:
        between(db)
    later = StandIn(tmp_path, "--records", str(records), *later_args)
    try:
        result = crawl(db, later.url)
        requests = later.requests()
    finally:
        later.stop()
    assert result.returncode == 0, result.stderr
    return db, result, requests


def test_incremental_run_fetches_only_new_and_revised(tmp_path):
    def on_first_of_january(db):
        with sqlite3.connect(db) as conn:
            conn.execute("update articles set ingested_at = '2025-12-31T00:00:00+00:00'")
            conn.execute("update crawl_runs set maxdate = '2026-01-01'")

    db, result, requests = crawl_then_update(tmp_path, 3000, "--extra-today", "40", "--revised-today", "25",
                                             between=on_first_of_january)
    assert "40 added, 25 updated" in result.stdout
    fetches = [r for r in requests if r["endpoint"] == "efetch.fcgi"]
    assert sum(r["ids"] or int(r["params"]["retmax"]) for r in fetches) == 65
    assert len(requests) == 4
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from articles where title like '[Revised]%'").fetchone()[0] == 25
        assert conn.execute("select count(*) from articles").fetchone()[0] == 3040


def test_records_revised_on_the_day_of_the_last_crawl_are_fetched_again(tmp_path):
    """A crawl today, then 100 records enter and 20 stored ones are revised the same day: the
    next crawl stores both (it used to drop the 20: stored by a crawl on or after the window's
    first day). What a run fetched is tracked by the run (crawl_fetched), and cleared when it ends."""
    db, result, _ = crawl_then_update(tmp_path, 2000, "--extra-today", "100", "--revised-today", "20")
    assert "100 added, 20 updated" in result.stdout
    with sqlite3.connect(db) as conn:
        assert conn.execute("select count(*) from articles where title like '[Revised]%'").fetchone()[0] == 20
        assert conn.execute("select count(*) from crawl_fetched").fetchone()[0] == 0


def test_api_key_allows_ten_requests_per_second(tmp_path):
    standin = StandIn(tmp_path, "--records", "2000")
    try:
        result = crawl(tmp_path / "fast.db", standin.url, "--batch-size", "50", "--api-key", "test-key")
        requests = standin.requests()
    finally:
        standin.stop()
    assert result.returncode == 0, result.stderr
    assert all(r["params"].get("api_key") == "test-key" for r in requests)
    assert 4 <= most_in_one_second(requests) <= 10


def test_unreachable_server_is_reported_and_nothing_written(tmp_path):
    db = tmp_path / "none.db"
    result = crawl(db, "http://127.0.0.1:9/entrez/eutils/")
    assert result.returncode == 1
    assert "is unreachable" in result.stderr and "database was not changed" in result.stderr
    assert "Traceback" not in result.stderr
    assert not db.exists()


def test_invalid_query_shows_ncbi_message(server, tmp_path):
    result = crawl(tmp_path / "q.db", server.url, "--query", "ketamine[invalid]")
    assert result.returncode == 1
    assert 'PubMed rejected the query: Invalid query: unknown field tag "[invalid]"' in result.stderr


def test_bad_config_is_named(tmp_path):
    config = tmp_path / "kaplit.toml"
    config.write_text("[ncbi]\nemail = 42\n")
    result = crawl(tmp_path / "c.db", "http://127.0.0.1:9/", "--config", str(config))
    assert result.returncode == 1
    assert f"bad config: {config}: ncbi.email must be a str" in result.stderr


def test_environment_supplies_key_and_email(tmp_path, monkeypatch):
    from kaplit.settings import resolve

    monkeypatch.setenv("NCBI_API_KEY", "env-key")
    monkeypatch.setenv("NCBI_EMAIL", "env@example.org")
    settings = resolve({"api_key": None, "email": None}, {"ncbi": {"api_key": "file-key"}})
    assert (settings["api_key"], settings["email"]) == ("env-key", "env@example.org")
    assert resolve({"api_key": "cli-key"}, {})["api_key"] == "cli-key"


def test_build_crawls_when_eutils_answers(server, tmp_path):
    db = tmp_path / "built.db"
    result = subprocess.run([sys.executable, "-m", "kaplit", "build", "--db", str(db), "--eutils-url", server.url],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert f"PubMed answers at {server.url}" in result.stdout
    assert len(articles(db)) == RECORDS


def test_build_falls_back_to_the_snapshot_when_unreachable(tmp_path):
    db = tmp_path / "offline.db"
    result = subprocess.run([sys.executable, "-m", "kaplit", "build", "--db", str(db),
                             "--eutils-url", "http://127.0.0.1:9/entrez/eutils/"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "PubMed is unreachable: building" in result.stdout
    assert len(articles(db)) == 2498


def test_timeouts_are_retried_and_lost_ids_are_named(tmp_path):
    standin = StandIn(tmp_path, "--records", "1500", "--fault-rate", "0.3", "--seed", "5",
                      "--slow-seconds", "2.5", "--unfetchable", "3")
    try:
        db = tmp_path / "t.db"
        result = crawl(db, standin.url, "--batch-size", "100", "--timeout", "1")
        requests = standin.requests()
    finally:
        standin.stop()
    assert any(r["fault"] == "slow" for r in requests)
    assert result.returncode == 1
    lost = ", ".join(str(800_000_000 + i) for i in range(3))
    assert f"3 ids could not be fetched: {lost}" in result.stderr
    assert len(articles(db)) == 1497
    with sqlite3.connect(db) as conn:
        assert conn.execute("select status, notes from crawl_runs").fetchone() == ("partial", "3 ids not fetched")
