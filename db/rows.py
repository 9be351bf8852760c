"""Turn a parsed `Article` into the rows of each table, as tuples in schema column order.

Every row ends with the record's sequence number in its file (`_seq` in the staging tables,
db/staging.py), which is how the merge picks one version of a PMID that a file holds twice.
"""

from __future__ import annotations

from operator import itemgetter

from kaplit.db.schema import ARTICLE_COLUMNS, AUTHOR_COLUMNS, CHILD_TABLES
from kaplit.pipeline.parse.record import Article

WRITER_FIELDS = ("source_file", "ingested_at")
ARTICLE_FIELDS = [c for c in ARTICLE_COLUMNS if c not in WRITER_FIELDS]
AUTHOR_FIELDS = list(AUTHOR_COLUMNS)  # "id" first
AUTHOR_NAME_FIELDS = AUTHOR_FIELDS[1:]  # also in article_authors: the name as each record gives it
CHILD_FIELDS = {table: ["pmid", *columns] for table, (columns, _) in CHILD_TABLES.items()}

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
    "ANZCTR": "https://www.anzctr.org.au/TrialSearch.aspx?searchTxt={}",
    "ChiCTR": "https://www.chictr.org.cn/searchprojEN.html?regno={}",
    "IRCT": "https://irct.behdasht.gov.ir/search/result?query={}",
    "DRKS": "https://drks.de/search/en/trial/{}",
    "CTRI": "https://ctri.nic.in/Clinicaltrials/advancesearchmain.php?trialno={}",
    "JPRN": "https://trialsearch.who.int/Trial2.aspx?TrialID={}",
}


def _getter(fields):
    """A C-speed getter returning a tuple of those keys' values (even for a single key)."""
    getter = itemgetter(*fields)
    return getter if len(fields) > 1 else (lambda item: (getter(item),))


ARTICLE_GETTER = _getter(ARTICLE_FIELDS)
AUTHOR_GETTER = _getter(AUTHOR_NAME_FIELDS)
# Per child table: (whether rows carry a position, getter for the item's own fields). The
# schema puts `position` first and the derived `url` last: rows are (pmid, [position], *values).
CHILD_GETTERS = {
    table: ("position" in CHILD_FIELDS[table],
            _getter([f for f in CHILD_FIELDS[table][1:] if f not in ("position", "url")]))
    for table in CHILD_SOURCES
}


def prepare(record: Article, seq: int) -> tuple[tuple, list, dict]:
    """(article row, author rows, {child table: rows}); article and child rows end with seq."""
    pmid = record.pmid
    authors, links = [], []
    for position, author in enumerate(record.authors, start=1):
        authors.append((author["author_id"], *AUTHOR_GETTER(author)))
        links.append((pmid, position, author["author_id"], "\n".join(author["affiliations"]) or None,
                      author["equal_contrib"], *AUTHOR_GETTER(author), seq))
    children = {"article_authors": links}
    for table, attribute in CHILD_SOURCES.items():
        positioned, getter = CHILD_GETTERS[table]
        items = getattr(record, attribute)
        if table == "abstract_sections" and _plain_single_section(items):
            items = ()  # articles.abstract says it all
        if positioned:
            children[table] = [(pmid, position, *getter(item), seq) for position, item in enumerate(items, start=1)]
        elif table == "trial_registrations":
            children[table] = [(pmid, *getter(item), _trial_url(item), seq) for item in items]
        else:
            children[table] = [(pmid, *getter(item), seq) for item in items]
    return (*ARTICLE_GETTER(record.article), seq), authors, children


def _plain_single_section(sections) -> bool:
    return len(sections) == 1 and not sections[0]["label"] and not sections[0]["html"]


def _trial_url(item) -> str | None:
    template = TRIAL_URLS.get(item["databank"])
    return template.format(item["accession"]) if template and item["is_trial_registration"] else None
