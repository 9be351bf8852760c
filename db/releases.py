"""Releases of a served database: the file a site serves never changes; an update builds the
next release beside it and switches a pointer.

`kaplit.db` (the name every command and URL uses) is a symbolic link to
`kaplit.db.releases/<release>.db`. An update copies the current release (SQLite's backup API:
a consistent copy even of a file another process has open), does its work on the copy as
`<release>.db.partial`, renames it into place when it has passed its checks, and then replaces
the link in one `rename` (atomic on POSIX): a reader sees the old release or the new one, never
a mix. The previous releases stay for `kaplit rollback`, at most `keep` of them. A plain file
at the pointer's path (a database made before releases, or by `kaplit build`) becomes the first
release the first time it is updated.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

PARTIAL = ".partial"
STAMP = "%Y%m%dT%H%M%S%fZ"  # release names sort in time order
COPY_PAGES = 4096  # pages per step of the backup API


class ReleaseError(Exception):
    """A release that cannot be made, switched to or rolled back to."""


@dataclass
class Releases:
    pointer: Path

    @property
    def folder(self) -> Path:
        return self.pointer.with_name(self.pointer.name + ".releases")

    def current(self) -> Path | None:
        """The file the pointer names now (None: there is no database yet)."""
        return self.pointer.resolve() if self.pointer.exists() else None

    def all(self) -> list[Path]:
        """The finished releases, oldest first."""
        return sorted(self.folder.glob("*.db")) if self.folder.is_dir() else []

    def new_partial(self) -> Path:
        """A fresh release file name in the releases folder (time-ordered), with its partial suffix."""
        self.folder.mkdir(exist_ok=True)
        return self.folder / f"{datetime.now(timezone.utc).strftime(STAMP)}.db{PARTIAL}"

    def clear_partials(self) -> list[Path]:
        """Remove what interrupted updates left behind; returns what was removed."""
        left = [p for p in self.folder.glob(f"*{PARTIAL}*")] if self.folder.is_dir() else []
        for path in left:
            path.unlink(missing_ok=True)
        return left

    def adopt_plain_file(self) -> Path:
        """The pointer's own file as the first release, when it is not a link yet."""
        self.folder.mkdir(exist_ok=True)
        made = datetime.fromtimestamp(self.pointer.stat().st_mtime, timezone.utc)
        first = self.folder / f"{made.strftime(STAMP)}.db"
        if not first.exists():
            copy_database(self.pointer, first.with_name(first.name + PARTIAL))
            os.replace(first.with_name(first.name + PARTIAL), first)
        return first

    def finish(self, partial: Path) -> Path:
        final = partial.with_name(partial.name.removesuffix(PARTIAL))
        os.replace(partial, final)
        return final

    def switch(self, release: Path):
        """Point the pointer at the release, atomically."""
        if release.parent.resolve() != self.folder.resolve() or not release.is_file():
            raise ReleaseError(f"{release} is not a release of {self.pointer}")
        link = self.pointer.with_name(f".{self.pointer.name}.switching")
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(release, self.pointer.parent))
        os.replace(link, self.pointer)

    def previous(self) -> Path | None:
        """The release before the current one."""
        current, releases = self.current(), self.all()
        older = [r for r in releases if current is None or r.name < current.name]
        return older[-1] if older else None

    def prune(self, keep: int) -> list[Path]:
        """Remove the oldest releases beyond `keep`, never the current one."""
        current = self.current()
        removable = [r for r in self.all() if r != current]
        gone = removable[: max(0, len(self.all()) - keep)]
        for path in gone:
            path.unlink()
        return gone


def release_name(path: Path) -> str:
    """The release a database file is: its name in the releases folder, else the file's stem."""
    return Path(path).resolve().name.removesuffix(".db")


def copy_database(source: Path, target: Path, on_progress=None):
    """A consistent copy of a database file (read-only on the source), page by page."""
    target.unlink(missing_ok=True)
    reading = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    writing = sqlite3.connect(target)
    try:
        reading.backup(writing, pages=COPY_PAGES,
                       progress=(lambda status, remaining, total: on_progress(total - remaining, total))
                       if on_progress else None)
    finally:
        writing.close()
        reading.close()


_CHANGES = {
    "added": "SELECT pmid FROM articles WHERE pmid NOT IN (SELECT pmid FROM base.articles)",
    "revised": "SELECT a.pmid FROM articles a JOIN base.articles b ON b.pmid = a.pmid "
               "WHERE a.content_hash IS NOT b.content_hash",
    "deleted": "SELECT pmid FROM base.articles WHERE pmid NOT IN (SELECT pmid FROM articles)",
}


def record_update(db, release: str, base: Path | None, started: str, source: str, window: str | None,
                  retagged: int, version: str) -> dict[str, int]:
    """The `updates` row of a new release and its `release_changes` (the PMIDs it added, revised
    and deleted, by comparison with the base release); returns the counts."""
    tagger = db.execute("SELECT version FROM tagger ORDER BY tagged_at DESC LIMIT 1").fetchone()
    if base is not None:
        db.execute("ATTACH DATABASE ? AS base", [f"file:{base}?mode=ro"])
    try:
        with db.atomic():
            db.execute("INSERT INTO updates (release, previous, started_at, finished_at, source, crawl_window, "
                       "retagged, software_version, tagger_version) "
                       "VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?, ?, ?, ?, ?)",
                       [release, release_name(base) if base else None, started, source, window, retagged,
                        version, tagger[0] if tagger else None])
            counts = {}
            for change, sql in _CHANGES.items():
                if base is None:
                    sql = "SELECT pmid FROM articles" if change == "added" else "SELECT NULL AS pmid WHERE 0"
                counts[change] = db.execute(f"INSERT INTO release_changes (release, pmid, change) "
                                            f"SELECT ?, pmid, ? FROM ({sql})", [release, change]).rowcount
            db.execute("UPDATE updates SET added = ?, revised = ?, deleted = ? WHERE release = ?",
                       [counts["added"], counts["revised"], counts["deleted"], release])
    finally:
        if base is not None:
            db.execute("DETACH DATABASE base")
    return counts


def free_bytes(folder: Path) -> int:
    return shutil.disk_usage(folder).free
