"""Parser for MEDLINE / "PubMed format" exports (.nbib, .txt), built on `Bio.Medline`.

Biopython is the right tool here: `Bio.Medline.parse` reads the tagged, line-continued format
record by record (streaming) and folds continuation lines. What it cannot keep is which `AD`
(affiliation) line belongs to which author: affiliations are attached per author only when the
counts match one to one.
"""

from __future__ import annotations

import re

from Bio import Medline

from kaplit.pipeline.parse.normalize import clean_doi, clean_pmcid, compact_date, free_text_date, squash
from kaplit.pipeline.parse.pubmed_xml import mesh_row
from kaplit.pipeline.parse.record import Article, RecordError, Rejected, author_key, display_name

TAG_LINE = re.compile(r"^(?P<tag>[A-Z]{2,4}) *-(?P<value>.*)$", re.S)
_ID_WITH_TYPE = re.compile(r"^(?P<value>.+?)\s*\[(?P<kind>[a-z]+)\]$")
_COMMENT_TAGS = {
    "CIN": "CommentIn", "CON": "CommentOn", "EIN": "ErratumIn", "EFR": "ErratumFor",
    "RIN": "RetractionIn", "ROF": "RetractionOf", "UIN": "UpdateIn", "UOF": "UpdateOf",
    "ECI": "ExpressionOfConcernIn", "ECF": "ExpressionOfConcernFor", "RPI": "RepublishedIn",
    "RPF": "RepublishedFrom",
}


def looks_like_medline(first_line: str) -> bool:
    return bool(TAG_LINE.match(first_line))


def iter_records(handle):
    """Yield an Article (or a Rejected) per record of a text handle in MEDLINE format."""
    for number, raw in enumerate(Medline.parse(_canonical_lines(handle)), start=1):
        try:
            yield _article(raw, number)
        except RecordError as error:
            yield Rejected(str(error))


def _canonical_lines(lines):
    """Rewrite tag lines to the fixed layout Bio.Medline slices by position ("TAG - value").

    Hand-edited exports write "PMID-22664220" or "PMC -123"; read by position, those lose the
    first digits of the value and would store a wrong PMID.
    """
    for line in lines:
        match = TAG_LINE.match(line)
        if match:
            line = f"{match['tag']:<4}- {match['value'].lstrip(' ')}"
        yield line


def _one(raw, tag) -> str | None:
    value = raw.get(tag)
    if isinstance(value, list):
        value = " ".join(value)
    return squash(value)


def _many(raw, tag) -> list[str]:
    value = raw.get(tag) or []
    values = value if isinstance(value, list) else [value]
    return [v for v in (squash(x) for x in values) if v]


def _ids(raw) -> dict:
    ids = {}
    for tag in ("AID", "LID"):
        for value in _many(raw, tag):
            match = _ID_WITH_TYPE.match(value)
            if match:
                ids.setdefault(match["kind"], match["value"])
    return ids


def _article(raw: dict, number: int) -> Article:
    pmid = _one(raw, "PMID")
    if not pmid or not pmid.isdigit():
        raise RecordError(f"record {number} has no valid PMID ({pmid!r})")
    ids = _ids(raw)
    year, pub_date = free_text_date(_one(raw, "DP"))
    dp = _one(raw, "DP")
    title = _one(raw, "TI")
    abstract = _one(raw, "AB")
    record = Article(
        article={
            "pmid": int(pmid),
            "record_type": "book" if _one(raw, "BTI") else "article",
            "title": title or _one(raw, "BTI"),
            "title_html": None,  # MEDLINE exports carry no inline markup
            "vernacular_title": _one(raw, "TT"),
            "abstract": None,
            "journal": _one(raw, "JT"),
            "journal_iso": _one(raw, "TA"),
            "issn": _issn(raw),
            "volume": _one(raw, "VI"),
            "issue": _one(raw, "IP"),
            "pages": _one(raw, "PG"),
            "year": year,
            "pub_date": pub_date,
            "pub_date_text": dp if dp and not dp.isdigit() else None,
            "article_date": compact_date(_one(raw, "DEP")),
            "entrez_date": compact_date(_one(raw, "EDAT")),
            "language": " ".join(_many(raw, "LA")) or None,
            "doi": clean_doi(ids.get("doi")),
            "pmcid": clean_pmcid(_one(raw, "PMC")),
            "book_title": _one(raw, "BTI"),
            "publisher": _one(raw, "PB"),
            "coi_statement": _one(raw, "COIS"),
            "copyright": _one(raw, "CI"),
            "status": _one(raw, "STAT"),
            "publication_status": _one(raw, "PST"),
            "date_completed": compact_date(_one(raw, "DCOM")),
            "date_revised": compact_date(_one(raw, "LR")),
            "country": _one(raw, "PL"),
        },
        authors=_authors(raw),
        sections=[{"label": None, "nlm_category": None, "text": abstract, "html": None}] if abstract else [],
        mesh=[_mesh(h) for h in _many(raw, "MH")],
        publication_types=[{"name": p, "ui": None} for p in dict.fromkeys(_many(raw, "PT"))],
        keywords=[
            {"keyword": k.lstrip("*"), "owner": _one(raw, "OTO"), "major_topic": int(k.startswith("*"))}
            for k in dict.fromkeys(_many(raw, "OT"))
        ],
        chemicals=[_chemical(c) for c in _many(raw, "RN")],
        grants=[_grant(g) for g in _many(raw, "GR")],
        accessions=[_accession(s) for s in _many(raw, "SI")],
        comments_corrections=[
            {"ref_type": ref_type, "ref_pmid": _pmid_in(note), "ref_source": note, "note": None}
            for tag, ref_type in _COMMENT_TAGS.items()
            for note in _many(raw, tag)
        ],
    )
    return record.finish()


def _issn(raw) -> str | None:
    found = re.search(r"\b\d{4}-\d{3}[\dXx]\b", _one(raw, "IS") or "")
    return found.group(0) if found else None


def _authors(raw) -> list[dict]:
    full, short = _many(raw, "FAU"), _many(raw, "AU")
    affiliations = _many(raw, "AD")
    orcids = [o.rsplit("/", 1)[-1] for o in _many(raw, "AUID") if "ORCID" in o.upper()]
    authors = []
    for index, name in enumerate(full or short):
        last, _, fore = name.partition(", ") if full else (name.rpartition(" ")[0] or name, "", "")
        initials = short[index].rpartition(" ")[2] if index < len(short) and " " in short[index] else None
        author = {
            "last_name": last,
            "fore_name": fore or None,
            "initials": initials,
            "suffix": None,
            "collective_name": None,
            "orcid": None,
            "affiliations": [affiliations[index]] if len(affiliations) == len(full or short) else [],
            "equal_contrib": 0,
        }
        authors.append(author)
    if len(orcids) == len(authors):
        for author, orcid in zip(authors, orcids):
            author["orcid"] = orcid
    for group in _many(raw, "CN"):
        authors.append({
            "last_name": None, "fore_name": None, "initials": None, "suffix": None,
            "collective_name": group, "orcid": None, "affiliations": [], "equal_contrib": 0,
        })
    for author in authors:
        author["display_name"] = display_name(author)
        author["author_id"] = author_key(author)
    return authors


def _mesh(heading: str) -> dict:
    """ "Occupational Health/*history/psychology" → descriptor + qualifiers with major flags."""
    descriptor, *qualifiers = heading.split("/")
    return mesh_row(
        descriptor.lstrip("*"), None, descriptor.startswith("*"),
        [(q.lstrip("*"), None, q.startswith("*")) for q in qualifiers],
    )


def _chemical(value: str) -> dict:
    match = re.match(r"^(?P<number>\S+) \((?P<name>.+)\)$", value)
    if not match:
        return {"name": value, "ui": None, "registry_number": None}
    number = None if match["number"] == "0" else match["number"]
    return {"name": match["name"], "ui": None, "registry_number": number}


def _grant(value: str) -> dict:
    """ "R01 MH012345/MH/NIMH NIH HHS/United States": the ID may itself hold "/", so read from the end."""
    *rest, agency, country = [""] * max(0, 3 - value.count("/") - 1) + value.split("/")
    acronym = rest.pop() if len(rest) > 1 and re.fullmatch(r"[A-Z]{2}", rest[-1]) else None
    return {
        "grant_id": "/".join(rest).strip("/") or None,
        "acronym": acronym,
        "agency": agency or None,
        "country": country or None,
    }


def _accession(value: str) -> dict:
    bank, _, accession = value.partition("/")
    return {"databank": bank if accession else None, "accession": accession or bank, "source": "DataBankList"}


def _pmid_in(note: str) -> int | None:
    found = re.search(r"PMID:\s*(\d+)", note)
    return int(found.group(1)) if found else None
