"""Checking a database file, and publishing a citable snapshot of it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from kaplit.db.schema import CHILD_TABLES
from kaplit.db.summaries import summaries_behind

COUNTED = ["articles", "authors", *CHILD_TABLES, "tags", "studies", "deleted_citations", "crawl_runs"]


def check(path) -> list[str]:
    """Problems found in the database file (an empty list when it is sound)."""
    path = Path(path)
    if not path.is_file():
        return [f"{path}: no such file"]
    try:
        _recover_interrupted_write(path)
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            problems = [r[0] for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
            if problems:
                return [f"{path}: damaged: {p}" for p in problems[:20]]
            problems += [f"{path}: row {r[1]} of {r[0]} points to a missing {r[2]}"
                         for r in conn.execute("PRAGMA foreign_key_check").fetchall()[:20]]
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "articles" not in tables:
                return [f"{path}: not a kaplit database (no articles table)"]
            if "articles_fts" in tables:
                problems += _check_fts(path)
            if "study_labels" in tables:
                problems += _check_labels(conn, path)
            if "tagger" in tables and not summaries_behind(conn):  # else they await the next retag
                problems += _check_bitmaps(conn, path) + _check_column_counts(conn, path)
            return problems
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        return [f"{path}: not a readable SQLite database ({error})"]


def _check_labels(conn, path) -> list[str]:
    """`study_labels` holds exactly the labels of the studies' JSON list columns."""
    from kaplit.pipeline.tagging.taxonomy import LABELLED_COLUMNS

    from_json = " UNION ALL ".join(f"SELECT s.pmid AS pmid, '{facet}' AS facet, j.value AS label "
                                   f"FROM studies s, json_each(s.{facet}) j"
                                   for facet in LABELLED_COLUMNS)
    from_json = f"SELECT pmid, facet, label FROM ({from_json})"
    table = "SELECT pmid, facet, label FROM study_labels"
    problems = []
    for name, sql in (("of studies missing from study_labels", f"{from_json} EXCEPT {table}"),
                      ("in study_labels that no study has", f"{table} EXCEPT {from_json}")):
        rows = conn.execute(f"SELECT pmid, facet, label FROM ({sql}) LIMIT 5").fetchall()
        if rows:
            count = conn.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
            problems.append(f"{path}: {count} label(s) {name}, e.g. "
                            + ", ".join(f"{pmid} {facet} {label!r}" for pmid, facet, label in rows)
                            + f"; `kaplit retag --all --db {path}` rebuilds it")
    return problems


def _check_bitmaps(conn, path) -> list[str]:
    """`study_bitmaps` holds the studies of each facet value as the tables have them."""
    from kaplit.db.bitmaps import stale_bitmaps, stale_label_facet_counts

    stale, problems = stale_bitmaps(conn), []
    if stale:
        problems.append(f"{path}: study_bitmaps out of step with studies for {len(stale)} value(s), e.g. "
                        + "; ".join(stale[:5]) + f"; `kaplit retag --all --db {path}` rebuilds them")
    stale_counts = stale_label_facet_counts(conn)
    if stale_counts:
        problems.append(f"{path}: {stale_counts} row(s) of label_facet_counts out of step with studies; "
                        f"`kaplit retag --all --db {path}` recounts them")
    return problems


def _check_column_counts(conn, path) -> list[str]:
    from kaplit.db.summaries import stale_column_counts

    stale = stale_column_counts(conn)
    return [f"{path}: column_counts out of step with {', '.join(stale)}; `kaplit retag --all --db {path}` "
            f"recounts them"] if stale else []


def author_conflicts(path) -> list[str]:
    """ORCIDs that records give to differently named people (PubMed's ORCID data has such
    errors): each authorship keeps its own name, so these are notes, not damage."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'author_conflicts'").fetchone():
            return []
        return [f"ORCID {orcid} is given to {spelled.replace(',', ' and ')} (PMIDs {pmids.replace(',', ', ')})"
                for orcid, spelled, pmids in conn.execute(
                    "SELECT orcid, spelled, pmids FROM author_conflicts ORDER BY orcid")]
    finally:
        conn.close()


def _recover_interrupted_write(path: Path):
    """A write cut short (killed process, full disk) leaves a hot journal beside the file; the
    next read-write open rolls it back, as SQLite promises. The read-only check below cannot."""
    journal = path.with_name(path.name + "-journal")
    if journal.exists() and journal.stat().st_size:
        sqlite3.connect(path).execute("PRAGMA schema_version").fetchone()


def _check_fts(path) -> list[str]:
    """FTS5's integrity-check is issued as an INSERT: run it in a transaction that is rolled back."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)")
        return []
    except sqlite3.DatabaseError as error:
        return [f"{path}: full-text index out of step with articles ({error})"]
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


def publish(db_path, out_dir, version: str) -> tuple[Path, Path]:
    """Write a compacted copy of the database and a manifest that lets a researcher cite it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc)
    target = out_dir / f"kaplit-{stamp:%Y%m%dT%H%M%SZ}.db"
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        source.execute("VACUUM INTO ?", [str(target)])
        counts = {t: source.execute(f"SELECT count(*) FROM [{t}]").fetchone()[0] for t in COUNTED}
        runs = [dict(zip(("kind", "finished_at", "source", "query", "mindate", "maxdate", "status"), r))
                for r in source.execute("SELECT kind, finished_at, source, query, mindate, maxdate, status "
                                        "FROM crawl_runs ORDER BY id")]
        tagger = [r[0] for r in source.execute("SELECT DISTINCT tagger_version FROM studies")]
        dates = source.execute("SELECT min(pub_date), max(pub_date), max(entrez_date) FROM articles").fetchone()
    finally:
        source.close()
    manifest = {
        "file": target.name, "sha256": _sha256(target), "bytes": target.stat().st_size,
        "published_at": stamp.isoformat(timespec="seconds"), "software_version": version,
        "tagger_versions": tagger, "counts": counts,
        "publication_dates": {"earliest": dates[0], "latest": dates[1]}, "latest_entrez_date": dates[2],
        "queries": sorted({r["query"] for r in runs if r["query"]}), "runs": runs,
    }
    manifest_path = target.with_suffix(".manifest.json")
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return target, manifest_path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
