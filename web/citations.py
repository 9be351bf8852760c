"""Citations in RIS and BibTeX for any list of PMIDs, read from a kaplit database."""

from __future__ import annotations

import re

PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/{}/"
ARTICLE_SQL = """
    select pmid, record_type, title, journal, journal_iso, year, pub_date, volume, issue, pages, doi,
           pmcid, abstract, book_title, publisher, keywords_text, entrez_date, ingested_at
    from articles where pmid in ({marks})
"""
AUTHOR_SQL = """
    select pmid, last_name, fore_name, initials, collective_name
    from article_authors where pmid in ({marks}) order by pmid, position
"""


def cell_value(cell):
    """A result cell's value, also where Datasette expanded a foreign key (`_labels=on`) to
    {"value": ..., "label": ...}."""
    return cell["value"] if isinstance(cell, dict) else cell


async def load(database, pmids: list[int]) -> list[dict]:
    """Articles with their ordered authors, in the order of `pmids`."""
    pmids = list(dict.fromkeys(pmids))
    found = {}
    for start in range(0, len(pmids), 500):
        group = pmids[start:start + 500]
        marks = ",".join("?" * len(group))
        for row in (await database.execute(ARTICLE_SQL.format(marks=marks), group)).rows:
            found[row["pmid"]] = {**dict(row), "authors": []}
        for row in (await database.execute(AUTHOR_SQL.format(marks=marks), group)).rows:
            found[row["pmid"]]["authors"].append(dict(row))
    return [found[p] for p in pmids if p in found]


def _name(author, bibtex=False) -> str:
    if author["collective_name"]:
        return "{" + _bib_escape(author["collective_name"]) + "}" if bibtex else author["collective_name"]
    first = author["fore_name"] or author["initials"] or ""
    last = _bib_escape(author["last_name"]) if bibtex else author["last_name"]
    return f"{last}, {_bib_escape(first) if bibtex else first}".rstrip(", ")


def _pages(pages):
    if not pages:
        return None, None
    start, _, end = pages.partition("-")
    if end and end.isdigit() and start.isdigit() and len(end) < len(start):  # MEDLINE "454-81"
        end = start[: len(start) - len(end)] + end
    return start, end or None


def ris(articles: list[dict]) -> str:
    lines = []
    for a in articles:
        start, end = _pages(a["pages"])
        fields = [("TY", "CHAP" if a["record_type"] == "book" else "JOUR"), ("TI", a["title"])]
        fields += [("AU", _name(author)) for author in a["authors"]]
        fields += [("PY", a["year"]), ("DA", (a["pub_date"] or "").replace("-", "/") or None),
                   ("T2", a["journal"] or a["book_title"]), ("J2", a["journal_iso"]), ("PB", a["publisher"]),
                   ("VL", a["volume"]), ("IS", a["issue"]), ("SP", start), ("EP", end), ("DO", a["doi"]),
                   ("AN", a["pmid"]), ("UR", PUBMED_URL.format(a["pmid"])), ("AB", a["abstract"])]
        fields += [("KW", k.strip()) for k in (a["keywords_text"] or "").split(";") if k.strip()]
        lines += [f"{tag}  - {' '.join(str(value).split())}" for tag, value in fields if value not in (None, "")]
        lines += ["ER  - ", ""]
    return "\r\n".join(lines)


BIB_SPECIAL = re.compile(r"([&%$#_{}])")


def _bib_escape(text) -> str:
    return BIB_SPECIAL.sub(r"\\\1", " ".join(str(text).split())) if text else ""


def bibtex(articles: list[dict]) -> str:
    entries = []
    for a in articles:
        start, end = _pages(a["pages"])
        fields = {
            "title": a["title"], "author": " and ".join(_name(au, bibtex=True) for au in a["authors"]) or None,
            "journal": a["journal"], "booktitle": a["book_title"], "publisher": a["publisher"], "year": a["year"],
            "volume": a["volume"], "number": a["issue"], "pages": f"{start}--{end}" if end else start,
            "doi": a["doi"], "pmid": a["pmid"], "pmcid": a["pmcid"], "url": PUBMED_URL.format(a["pmid"]),
        }
        body = ",\n".join(
            f"  {key} = {{{value if key == 'author' else _bib_escape(value)}}}"
            for key, value in fields.items() if value not in (None, ""))
        kind = "incollection" if a["record_type"] == "book" else "article"
        entries.append(f"@{kind}{{pmid{a['pmid']},\n{body}\n}}\n")
    return "\n".join(entries)
