"""Turn a parsed `Article` into the rows of each table, as tuples in schema column order.

This runs where the record was parsed (a worker process for large files), so that only compact
tuples travel to the single writer: pickling tuples costs a fraction of pickling the nested
dicts of an `Article`.
"""

from __future__ import annotations

from operator import itemgetter

from db.schema import ARTICLE_COLUMNS, AUTHOR_COLUMNS, CHILD_TABLES
from pipeline.record import Article

WRITER_FIELDS = ("source_file", "ingested_at")
ARTICLE_FIELDS = [c for c in ARTICLE_COLUMNS if c not in WRITER_FIELDS]
AUTHOR_FIELDS = [c for c in AUTHOR_COLUMNS if c != "id"]
CHILD_FIELDS = {table: list(columns) for table, (columns, _) in CHILD_TABLES.items()}

# Child table → the Article attribute its rows come from (article_authors is built separately).
CHILD_SOURCES = {
    "abstract_sections": "sections",
    "mesh_headings": "mesh",
    "publication_types": "publication_types",
    "keywords": "keywords",
    "chemicals": "chemicals",
    "grants": "grants",
    "trial_registrations": "accessions",
    "comments_corrections": "comments_corrections",
}
TRIAL_URLS = {
    "ClinicalTrials.gov": "https://clinicaltrials.gov/study/{}",
    "ISRCTN": "https://www.isrctn.com/{}",
    "EudraCT": "https://www.clinicaltrialsregister.eu/ctr-search/search?query={}",
}


class PreparedArticle(tuple):
    """(pmid, version, article, authors, children), a plain tuple subclass that pickles as
    cheaply as a tuple (a NamedTuple pickles as a class call per record):

    - version: (date_revised or "", content_hash); the greater version wins
    - article: ARTICLE_FIELDS values; the writer appends WRITER_FIELDS
    - authors: tuples (id, *AUTHOR_FIELDS)
    - children: table → list of tuples (pmid, then CHILD_FIELDS[table])
    """

    __slots__ = ()
    pmid = property(itemgetter(0))
    version = property(itemgetter(1))
    article = property(itemgetter(2))
    authors = property(itemgetter(3))
    children = property(itemgetter(4))


def _getter(fields):
    """A C-speed getter returning a tuple of those keys' values (even for a single key)."""
    getter = itemgetter(*fields)
    return getter if len(fields) > 1 else (lambda item: (getter(item),))


ARTICLE_GETTER = _getter(ARTICLE_FIELDS)
AUTHOR_GETTER = _getter(AUTHOR_FIELDS)
# Per child table: (whether rows carry a position, getter for the item's own fields). The
# schema puts `position` first and the derived `url` last, so rows are (pmid, [position], *values).
CHILD_GETTERS = {
    table: ("position" in CHILD_FIELDS[table],
            _getter([f for f in CHILD_FIELDS[table] if f not in ("position", "url")]))
    for table in CHILD_SOURCES
}


def prepare(record: Article) -> PreparedArticle:
    pmid = record.pmid
    links, authors = [], []
    for position, author in enumerate(record.authors, start=1):
        authors.append((author["author_id"], *AUTHOR_GETTER(author)))
        links.append((pmid, position, author["author_id"], "\n".join(author["affiliations"]) or None,
                      author["equal_contrib"]))
    children = {"article_authors": links}
    for table, attribute in CHILD_SOURCES.items():
        positioned, getter = CHILD_GETTERS[table]
        items = getattr(record, attribute)
        if positioned:
            children[table] = [(pmid, position, *getter(item)) for position, item in enumerate(items, start=1)]
        elif table == "trial_registrations":
            children[table] = [(pmid, *getter(item), _trial_url(item)) for item in items]
        else:
            children[table] = [(pmid, *getter(item)) for item in items]
    row = record.article
    return PreparedArticle((pmid, (row["date_revised"] or "", row["content_hash"]), ARTICLE_GETTER(row),
                            authors, children))


def _trial_url(item) -> str | None:
    template = TRIAL_URLS.get(item["databank"])
    return template.format(item["accession"]) if template and item["is_trial_registration"] else None
