"""Citations in RIS and BibTeX for any list of PMIDs, read from a kaplit database."""

from __future__ import annotations

import bibtexparser
import rispy
from bibtexparser.library import Library
from bibtexparser.model import Entry, Field
from pylatexenc.latexencode import unicode_to_latex

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


def _name(author) -> str:
    """"Last, Fore" (a collective name as it is)."""
    if author["collective_name"]:
        return author["collective_name"]
    first = author["fore_name"] or author["initials"] or ""
    return f"{author['last_name'] or ''}, {first}".strip(", ")


def _pages(pages):
    if not pages:
        return None, None
    start, _, end = pages.partition("-")
    if end and end.isdigit() and start.isdigit() and len(end) < len(start):  # MEDLINE "454-81"
        end = start[: len(start) - len(end)] + end
    return start, end or None


def _plain(value):
    """One line of text (citation managers read a field's line breaks as the end of it)."""
    return " ".join(str(value).split()) if value not in (None, "") else None


def ris(articles: list[dict]) -> str:
    """RIS, written by rispy."""
    entries = []
    for a in articles:
        start, end = _pages(a["pages"])
        fields = {
            "type_of_reference": "CHAP" if a["record_type"] == "book" else "JOUR", "title": a["title"],
            "authors": [_plain(_name(author)) for author in a["authors"]] or None, "year": a["year"],
            "date": (a["pub_date"] or "").replace("-", "/"), "secondary_title": a["journal"] or a["book_title"],
            "alternate_title1": a["journal_iso"], "publisher": a["publisher"], "volume": a["volume"],
            "number": a["issue"], "start_page": start, "end_page": end, "doi": a["doi"],
            "accession_number": a["pmid"], "urls": [PUBMED_URL.format(a["pmid"])], "abstract": a["abstract"],
            "keywords": [k.strip() for k in (a["keywords_text"] or "").split(";") if k.strip()] or None,
        }
        entries.append({key: value if isinstance(value, list) else _plain(value)
                        for key, value in fields.items() if value not in (None, "", [])})
    return rispy.dumps(entries, implementation=UnnumberedRisWriter)


class UnnumberedRisWriter(rispy.RisWriter):
    """rispy's writer without the "1.", "2." line it puts before each record."""

    def set_header(self, count):
        return ""


def bibtex(articles: list[dict]) -> str:
    """BibTeX, written by bibtexparser; LaTeX's special characters and non-ASCII letters encoded
    by pylatexenc (which bibtexparser's own LatexEncodingMiddleware uses) field by field, so that
    a group's protecting braces stay braces."""
    library = Library()
    for a in articles:
        start, end = _pages(a["pages"])
        fields = {
            "title": a["title"], "journal": a["journal"], "booktitle": a["book_title"],
            "publisher": a["publisher"], "year": a["year"], "volume": a["volume"], "number": a["issue"],
            "pages": f"{start}--{end}" if end else start, "doi": a["doi"], "pmid": a["pmid"],
            "pmcid": a["pmcid"], "url": PUBMED_URL.format(a["pmid"]),
        }
        encoded = [Field(key, _plain(value) if key == "url" else _latex(value))
                   for key, value in fields.items() if _plain(value)]
        if a["authors"]:
            encoded.insert(1, Field("author", " and ".join(_bib_name(au) for au in a["authors"])))
        library.add(Entry("incollection" if a["record_type"] == "book" else "article", f"pmid{a['pmid']}", encoded))
    return bibtexparser.write_string(library)


def _latex(value) -> str:
    return unicode_to_latex(_plain(value), non_ascii_only=False, unknown_char_policy="keep")


def _bib_name(author) -> str:
    """A group in braces, so that BibTeX takes it as one name, not as "Last, First"."""
    name = _latex(_name(author) or "?")
    return "{" + name + "}" if author["collective_name"] else name
