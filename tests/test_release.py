"""`kaplit check` and `kaplit publish-snapshot` on the ingested snapshot."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3

from click.testing import CliRunner

from kaplit.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_check_passes_a_sound_database(snapshot_db):
    result = run("check", "--db", snapshot_db)
    assert result.exit_code == 0 and result.output.strip().endswith(": ok")


def test_check_names_a_damaged_file(tmp_path, snapshot_db):
    damaged = tmp_path / "damaged.db"
    data = bytearray(snapshot_db.read_bytes())
    data[len(data) // 2: len(data) // 2 + 65536] = b"\xff" * 65536
    damaged.write_bytes(bytes(data))
    result = run("check", "--db", damaged)
    assert result.exit_code == 1
    assert str(damaged) in result.stderr and ("damaged" in result.stderr or "not a readable" in result.stderr)


def test_check_names_a_file_that_is_no_database(tmp_path):
    other = tmp_path / "notes.db"
    other.write_text("not a database at all " * 100)
    result = run("check", "--db", other)
    assert result.exit_code == 1 and "not a readable SQLite database" in result.stderr


def test_published_snapshot_manifest_matches_the_database(tmp_path, snapshot_db):
    source = tmp_path / "k.db"
    shutil.copy(snapshot_db, source)
    result = run("publish-snapshot", "--db", source, "--out", tmp_path / "release")
    assert result.exit_code == 0, result.output
    (manifest_path,) = (tmp_path / "release").glob("*.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    published = tmp_path / "release" / manifest["file"]
    assert hashlib.sha256(published.read_bytes()).hexdigest() == manifest["sha256"]
    with sqlite3.connect(published) as conn:
        for table, count in manifest["counts"].items():
            assert conn.execute(f"select count(*) from [{table}]").fetchone()[0] == count
    assert manifest["counts"]["articles"] == 2498
    assert manifest["runs"][0]["kind"] == "ingest"


def test_check_finds_a_full_text_index_out_of_step(tmp_path, snapshot_db):
    stale = tmp_path / "stale.db"
    shutil.copy(snapshot_db, stale)
    with sqlite3.connect(stale) as conn:
        trigger = conn.execute("select name from sqlite_master where type = 'trigger' and sql like '%AFTER UPDATE%'"
                               ).fetchone()[0]
        conn.execute(f"drop trigger [{trigger}]")
        conn.execute("update articles set title = 'A changed title' where pmid = (select min(pmid) from articles)")
    result = run("check", "--db", stale)
    assert result.exit_code == 1 and "full-text index out of step" in result.stderr
