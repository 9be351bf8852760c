"""Turn a parsed `Article` into the rows of each table, as tuples in schema column order.

This runs where the record was parsed (a worker process for large files), so that only compact
tuples travel to the single writer: pickling tuples costs a fraction of pickling the nested
dicts of an `Article`.
"""

from __future__ import annotations

import json
from typing import NamedTuple

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


class PreparedArticle(NamedTuple):
    pmid: int
    version: tuple  # (date_revised or "", content_hash): the greater version wins
    article: tuple  # ARTICLE_FIELDS values; the writer appends WRITER_FIELDS
    authors: list  # (id, *AUTHOR_FIELDS)
    children: dict  # table → list of tuples (pmid first, then CHILD_FIELDS[table])


def prepare(record: Article) -> PreparedArticle:
    row, pmid = record.article, record.pmid
    children = {"article_authors": []}
    authors = []
    for position, author in enumerate(record.authors, start=1):
        authors.append((author["author_id"], *[author.get(f) for f in AUTHOR_FIELDS]))
        affiliations = json.dumps(author["affiliations"], ensure_ascii=False) if author["affiliations"] else None
        children["article_authors"].append(
            (pmid, position, author["author_id"], affiliations, author["equal_contrib"]))
    for table, attribute in CHILD_SOURCES.items():
        fields = CHILD_FIELDS[table]
        rows = []
        for position, item in enumerate(getattr(record, attribute), start=1):
            values = {**item, "position": position}
            if table == "trial_registrations":
                values["url"] = _trial_url(item)
            rows.append((pmid, *[values.get(f) for f in fields]))
        children[table] = rows
    return PreparedArticle(
        pmid=pmid,
        version=(row.get("date_revised") or "", row["content_hash"]),
        article=tuple(row.get(f) for f in ARTICLE_FIELDS),
        authors=authors,
        children=children,
    )


def _trial_url(item) -> str | None:
    template = TRIAL_URLS.get(item["databank"])
    return template.format(item["accession"]) if template and item["is_trial_registration"] else None
