"""Living updates: `kaplit update` builds the next release beside the served one and switches to
it; `kaplit serve` follows without a restart, under the same URLs; a killed, failing or
disk-starved update leaves the served release alone; `kaplit rollback` goes back. Everything
runs over real HTTP against the stand-in E-utilities (testing/standin.py) on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.corpus import write_corpus
from kaplit.cli import cli
from kaplit.db.releases import Releases, release_name
from testing.standin import StandIn

RECORDS = 3000


def update(pointer: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kaplit", "update", "--db", str(pointer), "--eutils-url", url,
                           *args], capture_output=True, text=True, timeout=600)


def get(port: int, path: str) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def studies(port: int) -> tuple[str, int]:
    """(release, studies) as the served site says them."""
    status, headers, body = get(port, "/kaplit/studies.json?_size=1")
    assert status == 200, body[:300]
    return headers["x-kaplit-release"], json.loads(body)["filtered_table_rows_count"]


def wait_for(condition, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.25)


def fingerprint(path: Path) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    found = {
        "articles": conn.execute("select pmid, content_hash from articles order by pmid").fetchall(),
        "studies": conn.execute("select pmid, design, conditions, routes, substances from studies "
                                "order by pmid").fetchall(),
        "changes": conn.execute("select pmid, change from release_changes where release = "
                                "(select release from updates order by finished_at desc limit 1) "
                                "order by pmid").fetchall(),
    }
    conn.close()
    return found


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    server = StandIn(tmp_path_factory.mktemp("standin"), "--records", str(RECORDS))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def site(standin, tmp_path_factory):
    """A first update makes the database; `kaplit serve` serves it from then on."""
    pointer = tmp_path_factory.mktemp("served") / "kaplit.db"
    first = update(pointer, standin.url)
    assert first.returncode == 0, first.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "kaplit", "serve", "--db", str(pointer), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: _answers(port), 60)
    yield pointer, port
    server.terminate()
    server.wait(10)


def _answers(port) -> bool:
    try:
        return get(port, "/-/kaplit.json")[0] == 200
    except OSError:
        return False


def test_the_first_update_makes_the_database_as_its_first_release(site):
    pointer, port = site
    assert pointer.is_symlink() and pointer.resolve().parent == Releases(pointer).folder
    release, count = studies(port)
    assert release == release_name(pointer) and count == RECORDS
    conn = sqlite3.connect(pointer)
    assert conn.execute("select added, revised, deleted, previous from updates").fetchall() == [
        (RECORDS, 0, 0, None)]


def test_an_update_is_served_without_a_restart_under_the_same_urls(site, standin):
    pointer, port = site
    before, _ = studies(port)
    standin.grow(100, 20)
    result = update(pointer, standin.url)
    assert result.returncode == 0, result.stderr
    assert "100 added, 20 revised, 0 deleted" in result.stdout
    wait_for(lambda: studies(port) == (release_name(pointer), RECORDS + 100))
    after = release_name(pointer)
    assert after != before
    status, headers, landing = get(port, "/")
    assert headers["x-kaplit-release"] == after
    assert re.search(rb"100 new\s+and 20 revised studies</a>", landing), landing[:2000]
    assert f'release <code class="release-name">{after}</code>'.encode() in landing
    _, _, new = get(port, f"/kaplit/whats_new.json?release={after}&_shape=array")
    changed = json.loads(new)
    assert len(changed) == 120 and sum(r["change"] == "revised" for r in changed) == 20
    assert all(r["title"].startswith("[Revised]") for r in changed if r["change"] == "revised")
    _, _, feed = get(port, f"/kaplit/whats_new.atom?release={after}")
    assert feed.count(b"<entry>") == 120


def test_a_second_update_with_nothing_new_keeps_the_release_and_asks_little(site, standin):
    pointer, port = site
    served = release_name(pointer)
    standin.reset_log()
    result = update(pointer, standin.url)
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout and release_name(pointer) == served
    assert len(standin.requests()) <= 4
    assert not list(Releases(pointer).folder.glob("*.partial*"))


def test_rollback_serves_the_previous_release_without_a_restart(site):
    pointer, port = site
    newest = release_name(pointer)
    rolled = CliRunner().invoke(cli, ["rollback", "--db", str(pointer)])
    assert rolled.exit_code == 0, rolled.output
    wait_for(lambda: studies(port)[1] == RECORDS)
    assert studies(port)[0] == release_name(pointer) != newest
    forward = CliRunner().invoke(cli, ["rollback", "--db", str(pointer), "--to", newest])
    assert forward.exit_code == 0, forward.output
    wait_for(lambda: studies(port) == (newest, RECORDS + 100))


def test_an_update_under_load_serves_every_response_from_one_release(site, standin):
    """Four clients ask for the landing page, filtered studies, search, an article and a feed
    while an update adds records and the server switches: no errors, and every response is
    wholly from the release its header names (the landing page names its release; a studies
    page counts the studies of that release)."""
    pointer, port = site
    counted = "select count(*) from studies where year >= 1990"

    def count_of(path):
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(counted).fetchone()[0]

    counts = {release_name(r): count_of(r) for r in Releases(pointer).all()}
    pmid = sqlite3.connect(pointer).execute("select min(pmid) from studies").fetchone()[0]
    paths = ["/", "/kaplit/studies.json?_size=1&year__gte=1990", "/kaplit/search?q=ketamine",
             f"/article/{pmid}", "/kaplit/new_for_condition.atom?condition=Depression"]
    seen, problems, counted_pages, stop = [], [], [], threading.Event()

    def client(offset):
        n = offset
        while not stop.is_set():
            path = paths[n % len(paths)]
            n += 1
            status, headers, body = get(port, path)
            release = headers.get("x-kaplit-release")
            seen.append(release)
            if status != 200:
                problems.append((status, path))
            elif path == "/" and f'class="release-name">{release}<'.encode() not in body:
                problems.append(("landing names another release", release))
            elif path.startswith("/kaplit/studies.json"):
                counted_pages.append((release, json.loads(body)["filtered_table_rows_count"]))

    standin.grow(40, 10)
    threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        result = update(pointer, standin.url)
        assert result.returncode == 0, result.stderr
        new = release_name(pointer)
        counts[new] = count_of(pointer.resolve())
        wait_for(lambda: seen and seen[-1] == new)
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert not problems, problems[:10]
    assert len(set(seen)) >= 2 and len(seen) > 50
    assert [(r, n) for r, n in counted_pages if counts[r] != n] == []


# killed, failing and disk-starved updates, each on a copy of the served database

@pytest.fixture
def copy_of(site, tmp_path):
    def copy(name: str) -> Path:
        pointer = site[0]
        folder = tmp_path / name
        folder.mkdir()
        shutil.copytree(Releases(pointer).folder, folder / Releases(pointer).folder.name)
        (folder / pointer.name).symlink_to(os.readlink(pointer))
        return folder / pointer.name

    return copy


@pytest.mark.parametrize("stage", ["copy", "crawl", "retag", "check"])
def test_a_killed_update_leaves_the_served_release_and_the_next_one_completes(copy_of, standin, stage):
    reference, killed = copy_of("reference"), copy_of("killed")
    served = os.readlink(killed)
    standin.grow(30, 5)
    assert update(reference, standin.url).returncode == 0
    process = subprocess.Popen([sys.executable, "-m", "kaplit", "update", "--db", str(killed), "--eutils-url",
                                standin.url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in process.stdout:
        if line.strip() == f"update: {stage}":
            process.send_signal(signal.SIGKILL)
            break
    process.wait(60)
    assert process.returncode == -signal.SIGKILL
    assert os.readlink(killed) == served  # the served release was not touched
    assert fingerprint(killed.resolve())["articles"] != fingerprint(reference.resolve())["articles"]
    result = update(killed, standin.url)
    assert result.returncode == 0, result.stderr
    assert fingerprint(killed.resolve()) == fingerprint(reference.resolve())
    assert not list(Releases(killed).folder.glob("*.partial*"))


@pytest.fixture(scope="module")
def new_records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("new-records")
    return write_corpus(folder / "new.xml.gz", 200, folders=("snapshot",), years=(2026, 2026),
                        first_pmid=870_000_000)


def test_an_update_whose_check_fails_is_not_switched_in(copy_of, new_records, monkeypatch):
    pointer = copy_of("failing")
    served = os.readlink(pointer)
    monkeypatch.setattr("kaplit.update.check", lambda path: [f"{path}: a problem the check found"])
    result = CliRunner().invoke(cli, ["update", "--db", str(pointer), "--from", str(new_records)])
    assert result.exit_code == 1
    assert "update not switched in" in result.stderr and "a problem the check found" in result.stderr
    assert os.readlink(pointer) == served
    assert not list(Releases(pointer).folder.glob("*.partial*"))


def test_a_full_disk_during_an_update_says_what_to_free_and_serves_on(copy_of, new_records, monkeypatch):
    """The disk fills while the new release is written (SQLite's max_page_count stands in for a
    small file system, as in tests/test_drills.py)."""
    from kaplit.db import schema

    pointer = copy_of("full")
    served = os.readlink(pointer)
    pages = sqlite3.connect(pointer).execute("pragma page_count").fetchone()[0]
    real_open_db = schema.open_db

    def nearly_full(*args, **kwargs):
        db = real_open_db(*args, **kwargs)
        db.execute(f"PRAGMA max_page_count = {pages + 20}")
        return db

    monkeypatch.setattr("kaplit.update.open_db", nearly_full)
    result = CliRunner().invoke(cli, ["update", "--db", str(pointer), "--from", str(new_records)])
    assert result.exit_code == 1 and "Traceback" not in result.output + result.stderr
    assert f"the disk holding {Releases(pointer).folder} is full" in result.stderr
    assert "Free space on that disk, or keep fewer releases" in result.stderr
    assert os.readlink(pointer) == served
    assert not list(Releases(pointer).folder.glob("*.partial*"))


def test_files_update_a_plain_database_which_becomes_its_first_release(tmp_path, new_records, snapshot_db):
    pointer = tmp_path / "kaplit.db"
    shutil.copy(snapshot_db, pointer)
    result = CliRunner().invoke(cli, ["update", "--db", str(pointer), "--from", str(new_records), "--keep", "2"])
    assert result.exit_code == 0, result.stderr
    releases = Releases(pointer)
    assert pointer.is_symlink() and len(releases.all()) == 2
    assert releases.previous() is not None and "200 added" in result.output


@pytest.mark.parametrize("command", [["retag"], ["crawl", "--eutils-url", "http://127.0.0.1:9/"],
                                     ["build", "--offline"], ["ingest", __file__]])
def test_commands_that_write_in_place_refuse_a_release(copy_of, command):
    pointer = copy_of("refusing")
    served = pointer.resolve()
    before = served.stat().st_mtime_ns
    result = CliRunner().invoke(cli, [*command, "--db", str(pointer)])
    assert result.exit_code == 1 and "a served file is never written" in result.stderr
    assert f"kaplit update --db {pointer}" in result.stderr
    assert served.stat().st_mtime_ns == before


def test_a_schedule_reruns_the_same_update_and_refuses_nonsense(tmp_path):
    from kaplit.cli import _without_every

    assert _without_every(["update", "--db", "k.db", "--every", "24h", "--keep", "2"]) == [
        "update", "--db", "k.db", "--keep", "2"]
    assert _without_every(["update", "--every=6h", "--db", "k.db"]) == ["update", "--db", "k.db"]
    for every, message in (("5s", "at least a minute"), ("daily", "give a number and a unit")):
        result = CliRunner().invoke(cli, ["update", "--db", str(tmp_path / "k.db"), "--every", every])
        assert result.exit_code == 1 and message in result.stderr
