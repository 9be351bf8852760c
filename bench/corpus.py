"""Build large benchmark corpora from the real records in ../shared, with fresh PMIDs.

Records are read in place from the shared folder and written to a scratch file outside the
repository; each copy gets a new PMID (and, when asked, a new publication year) so that the
database sees distinct articles.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

from lxml import etree

from kaplit.config import shared_dir
from pipeline.sources import discover

FIRST_PMID = 900_000_000


def real_records(folders=("efetch",)) -> list[bytes]:
    """Every PubmedArticle in the given ../shared/pubmed subfolders, serialized."""
    records = []
    for folder in folders:
        for path in discover([shared_dir() / "pubmed" / folder]):
            if not path.name.endswith((".xml", ".xml.gz")):
                continue
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rb") as handle:
                tree = etree.parse(handle, etree.XMLParser(load_dtd=False, no_network=True, huge_tree=True))
            for elem in tree.iter("PubmedArticle"):
                if elem.find("MedlineCitation/PMID") is not None:
                    records.append(etree.tostring(elem))
    return records


def write_corpus(path: Path, count: int, folders=("efetch",), years=None, seed=7) -> Path:
    """Write `count` records to `path` (gzipped if it ends in .gz) as one PubmedArticleSet."""
    templates = [etree.fromstring(r) for r in real_records(folders)]
    rng = random.Random(seed)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as out:
        out.write(b'<?xml version="1.0" ?>\n<PubmedArticleSet>\n')
        for index in range(count):
            record = templates[index % len(templates)]
            record.find("MedlineCitation/PMID").text = str(FIRST_PMID + index)
            if years:
                _set_year(record, rng.randint(*years))
            out.write(etree.tostring(record) + b"\n")
        out.write(b"</PubmedArticleSet>\n")
    return path


def _set_year(record, year: int):
    date = record.find("MedlineCitation/Article/Journal/JournalIssue/PubDate")
    if date is None:
        return
    for child in list(date):
        date.remove(child)
    etree.SubElement(date, "Year").text = str(year)
