"""Build large benchmark corpora from the real records in ../shared, with fresh PMIDs.

Records are read in place from the shared folder and written to a scratch file outside the
repository; each copy gets a new PMID (and, when asked, a new publication year), and every copy
after the first a numbered title, so that the database sees distinct articles (identical titles
and abstracts would be one study republished hundreds of times: db/links.py).
"""

from __future__ import annotations

import gzip
import random
from contextlib import contextmanager, nullcontext
from pathlib import Path

from lxml import etree

from kaplit.config import shared_dir
from testing.standin import real_records

FIRST_PMID = 900_000_000


def write_corpus(path: Path, count: int, folders=("efetch",), years=None, seed=7,
                 first_pmid: int = FIRST_PMID) -> Path:
    """Write `count` records to `path` (gzipped if it ends in .gz) as one PubmedArticleSet,
    with PMIDs first_pmid, first_pmid + 1, ..."""
    templates = [etree.fromstring(record) for folder in folders
                 for record in real_records(shared_dir() / "pubmed" / folder)]
    rng = random.Random(seed)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as out:
        out.write(b'<?xml version="1.0" ?>\n<PubmedArticleSet>\n')
        for index in range(count):
            record = templates[index % len(templates)]
            record.find("MedlineCitation/PMID").text = str(first_pmid + index)
            if years:
                _set_year(record, rng.randint(*years))
            copy = index // len(templates)
            with _numbered_title(record, copy) if copy else nullcontext():
                out.write(etree.tostring(record) + b"\n")
        out.write(b"</PubmedArticleSet>\n")
    return path


@contextmanager
def _numbered_title(record, copy: int):
    """The record with " (copy N)" after its title, while writing it."""
    title = record.find("MedlineCitation/Article/ArticleTitle")
    if title is None:
        yield
        return
    last = title[-1] if len(title) else None
    before = last.tail if last is not None else title.text
    marked = f"{before or ''} (copy {copy})"
    if last is not None:
        last.tail = marked
    else:
        title.text = marked
    try:
        yield
    finally:
        if last is not None:
            last.tail = before
        else:
            title.text = before


def _set_year(record, year: int):
    date = record.find("MedlineCitation/Article/Journal/JournalIssue/PubDate")
    if date is None:
        return
    for child in list(date):
        date.remove(child)
    etree.SubElement(date, "Year").text = str(year)
