"""Links between records, rebuilt after every re-tag: a notice and the article it retracts or
corrects, and a record that republishes or duplicates another.

A retraction reaches the retracted article's own record only when PubMed revises it
(RetractionIn). The notice usually arrives first, and it names its article: by a RetractionOf /
ErratumFor / ExpressionOfConcernFor link, or, in sources without those links (the snapshot), by
its title ("Retraction Note: <the article's title>"). Either way the article is flagged at once;
`notice_links.basis` says which. A record that PubMed marks as republished (RepublishedFrom), or
whose title is another's and whose abstract is the other's (a reprint may add a line), is the same
study: `studies.duplicate_of`
names the earliest PMID and the summaries count it once.
"""

from __future__ import annotations

import re

from sqlite_utils import Database

from kaplit.pipeline.parse.record import CORRECTION_STATUSES

# the link a notice's record carries, and what the linked article becomes
NOTICE_OF = {"RetractionOf": "retracted", "ExpressionOfConcernFor": "expression of concern",
             "ErratumFor": "erratum"}
SEVERITY = list(CORRECTION_STATUSES.values())  # most serious first
# "Retraction Note: <title>", "Correction to: <title>", "'<title>': Erratum."
_NOTICE_TITLE = re.compile(
    r"^(?:(?P<retraction>retraction(?: note| notice)?|notice of retraction|retracted(?: article)?)"
    r"|(?P<concern>expression of concern)"
    r"|(?P<erratum>(?:author |publisher )?correction|corrigendum|erratum))(?: to| for)?\s*:\s*(?P<title>.+)$"
    r"|^[\"'“‘](?P<quoted>.+)[\"'”’]\s*:\s*(?:erratum|corrigendum|correction)\W*$", re.I)
_KIND = {"retraction": "retracted", "concern": "expression of concern", "erratum": "erratum"}
MIN_DUPLICATE_ABSTRACT = 200  # characters: short texts ("No abstract available") are no evidence


def link_records(db: Database):
    """Rebuild `notice_links` and `studies.duplicate_of`, and flag the articles notices name
    (call inside the transaction that changed `studies`)."""
    db.execute("DELETE FROM notice_links")
    for notice, target, status, basis in [*_linked_notices(db), *_titled_notices(db)]:
        db.execute("INSERT OR IGNORE INTO notice_links (notice_pmid, target_pmid, kind, basis) "
                   "VALUES (?, ?, ?, ?)", [notice, target, status, basis])
    _flag_named_articles(db)
    _mark_duplicates(db)


def _linked_notices(db: Database):
    marks = ",".join("?" * len(NOTICE_OF))
    for notice, target, ref_type in db.execute(
            f"SELECT c.pmid, c.ref_pmid, c.ref_type FROM comments_corrections c "
            f"JOIN articles a ON a.pmid = c.ref_pmid WHERE c.ref_type IN ({marks})", list(NOTICE_OF)):
        yield notice, target, NOTICE_OF[ref_type], ref_type


def _titled_notices(db: Database):
    """Notices whose title quotes their article's, word for word: looked up by the title's words
    (`title_key`) in a temporary index of every article's. (A full-text phrase query per notice
    read the whole posting list of every common word: at 1,000,000 records, hours.)"""
    notices = []
    for pmid, title in db.execute(
            "SELECT pmid, title FROM articles WHERE title LIKE 'retract%' OR title LIKE 'notice of retraction%' "
            "OR title LIKE 'expression of concern%' OR title LIKE '%correction%' OR title LIKE '%erratum%' "
            "OR title LIKE '%corrigendum%'"):
        named = _NOTICE_TITLE.match(title or "")
        if named and len(title_key(named["title"] or named["quoted"]).split()) >= 4:
            kind = next((_KIND[k] for k in _KIND if named[k]), "erratum")
            notices.append((pmid, title_key(named["title"] or named["quoted"]), kind))
    if not notices:
        return
    db.conn.create_function("kaplit_title_key", 1, title_key, deterministic=True)
    db.execute("DROP TABLE IF EXISTS temp._title_keys")
    db.execute("CREATE TEMP TABLE _title_keys AS SELECT kaplit_title_key(title) AS key, pmid FROM articles "
               "WHERE title IS NOT NULL")
    db.execute("CREATE INDEX temp._title_keys_key ON _title_keys (key)")
    for pmid, key, kind in notices:
        for (target,) in db.execute("SELECT pmid FROM temp._title_keys WHERE key = ? AND pmid != ?", [key, pmid]):
            yield pmid, target, kind, "title"
    db.execute("DROP TABLE temp._title_keys")


def title_key(title: str | None) -> str:
    """A title's words, lower-cased, one space apart: what "word for word" compares."""
    return " ".join(re.findall(r"\w+", (title or "").lower()))


def _flag_named_articles(db: Database):
    """The named articles (and their studies) take the most serious status of their notices."""
    for table in ("articles", "studies"):
        for rank, status in reversed(list(enumerate(SEVERITY))):  # the least serious first
            milder = SEVERITY[rank + 1:]
            db.execute(
                f"UPDATE {table} SET correction_status = ?, is_retracted = max(coalesce(is_retracted, 0), ?) "
                f"WHERE pmid IN (SELECT target_pmid FROM notice_links WHERE kind = ?) "
                f"AND (correction_status IS NULL OR correction_status IN ({','.join('?' * len(milder)) or 'NULL'}))",
                [status, int(status == "retracted"), status, *milder])


def _mark_duplicates(db: Database):
    db.execute("UPDATE studies SET duplicate_of = NULL WHERE duplicate_of IS NOT NULL")
    db.execute("""
        UPDATE studies SET duplicate_of = (
          SELECT min(c.ref_pmid) FROM comments_corrections c JOIN articles a ON a.pmid = c.ref_pmid
          WHERE c.pmid = studies.pmid AND c.ref_type = 'RepublishedFrom')
        WHERE pmid IN (SELECT pmid FROM comments_corrections WHERE ref_type = 'RepublishedFrom')""")
    groups = db.execute(f"""
        SELECT group_concat(pmid) FROM articles WHERE length(abstract) >= {MIN_DUPLICATE_ABSTRACT}
        GROUP BY lower(title) HAVING count(*) > 1""").fetchall()
    for (pmids,) in groups:
        records = db.execute(f"SELECT pmid, abstract FROM articles WHERE pmid IN ({pmids}) ORDER BY pmid").fetchall()
        for index, (pmid, abstract) in enumerate(records):
            first = next((earlier for earlier, text in records[:index] if _same_text(text, abstract)), None)
            if first:
                db.execute("UPDATE studies SET duplicate_of = ? WHERE pmid = ? AND duplicate_of IS NULL",
                           [first, pmid])


def _same_text(one: str, other: str) -> bool:
    """The same abstract, also where a reprint adds a line ("Reprinted from ..., with permission")."""
    one, other = " ".join(one.split()), " ".join(other.split())
    shorter, longer = sorted((one, other), key=len)
    return longer.startswith(shorter)
