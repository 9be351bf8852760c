"""Everything the article page shows about one PMID, read from a kaplit database."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from kaplit.pipeline.tagging.taxonomy import FACETS
from kaplit.web.markup import Span, render
from kaplit.web.taxonomy import held_out_precision, served_tagger

PUBMED = "https://pubmed.ncbi.nlm.nih.gov/{}/"
DOI = "https://doi.org/{}"
PMC = "https://pmc.ncbi.nlm.nih.gov/articles/{}/"
NOTICE_TYPES = ("RetractionIn", "ExpressionOfConcernIn", "ErratumIn", "UpdateIn", "RetractionOf",
                "ErratumFor", "ExpressionOfConcernFor", "UpdateOf")
BANNERS = {
    "retracted": ("danger", "This article has been retracted."),
    "expression of concern": ("warning", "An expression of concern has been published about this article."),
    "erratum": ("warning", "An erratum (correction) has been published for this article."),
    "updated": ("info", "An updated version of this article has been published."),
}
FACET_ORDER = list(FACETS)
LOW_PRECISION = 0.6  # below this held-out precision a tag is flagged: read its evidence before relying on it
INLINE_LABEL = re.compile(r"(?:^|(?<=[.!?] ))([A-Z][A-Z ,&/-]{2,40}): ")


@dataclass
class Section:
    label: str | None
    text: str
    html: str | None
    start: int  # offset of `text` in the article's plain abstract (tag offsets count from there)


CHILD_QUERIES = {
    "tags": "select * from tags where pmid = ? order by id",
    "sections": "select * from abstract_sections where pmid = ? order by position",
    "notices": f"select * from comments_corrections where pmid = ? and ref_type in "
               f"({','.join(repr(t) for t in NOTICE_TYPES)}) order by position",
    "authors": "select display_name, orcid, affiliations from article_authors where pmid = ? order by position",
    "trials": "select * from trial_registrations where pmid = ? order by is_trial_registration desc",
    "mesh": "select * from mesh_headings where pmid = ? order by position",
    "publication_types": "select name from publication_types where pmid = ?",
    "keywords": "select keyword from keywords where pmid = ?",
    "chemicals": "select name from chemicals where pmid = ? order by position",
    "grants": "select * from grants where pmid = ? order by position",
    "study": "select design, design_certain from studies where pmid = ?",
}


def _read(conn, pmid: int) -> dict | None:
    """The article row and its child rows, read in one visit to Datasette's SQL thread."""
    cursor = conn.cursor()
    cursor.row_factory = sqlite3.Row
    article = cursor.execute("select * from articles where pmid = ?", [pmid]).fetchone()
    if article is None:
        return None
    found = {name: [dict(r) for r in cursor.execute(sql, [pmid])] for name, sql in CHILD_QUERIES.items()}
    return {"article": dict(article), **found}


async def load_article(database, pmid: int) -> dict | None:
    found = await database.execute_fn(lambda conn: _read(conn, pmid))
    if found is None:
        return None
    article, tags = found["article"], found["tags"]
    found["study"] = (found["study"] or [None])[0]
    sections = _sections(article, found.pop("sections"))
    _, model = await served_tagger(database)
    return {
        **found,
        "title": render(article["title"] or "", article["title_html"], _spans(tags, "title", 0, None)),
        "sections": [(s.label, render(s.text, s.html, _spans(tags, "abstract", s.start, len(s.text))))
                     for s in sections],
        "links": _links(article),
        "banner": BANNERS.get(article["correction_status"]),
        "tags": sorted(tags, key=lambda t: (FACET_ORDER.index(t["facet"]) if t["facet"] in FACET_ORDER
                                            else len(FACET_ORDER), t["source"] == "derived")),
        "facets": FACETS,
        "precision": held_out_precision(model),
        "low_precision": LOW_PRECISION,
    }


def _sections(article, rows) -> list[Section]:
    """Abstract sections with their offsets in the plain abstract, which the parser built as
    "LABEL: text" lines; one unlabeled section when the record has no structure."""
    abstract = article["abstract"] or ""
    sections, cursor = [], 0
    for row in rows:
        if not row["text"]:
            continue
        prefix = len(row["label"]) + 2 if row["label"] else 0
        sections.append(Section(row["label"], row["text"], row["html"], cursor + prefix))
        cursor += prefix + len(row["text"]) + 1
    rebuilt = "\n".join(f"{s.label}: {s.text}" if s.label else s.text for s in sections)
    if sections and rebuilt == abstract:
        return sections
    return _inline_sections(abstract) if abstract else []


def _inline_sections(abstract: str) -> list[Section]:
    """Sections of an abstract whose labels are inline ("BACKGROUND: ... METHODS: ..."), as
    many exported records have them; one unlabeled section when there are fewer than two."""
    labels = list(INLINE_LABEL.finditer(abstract))
    if len(labels) < 2:
        return [Section(None, abstract, None, 0)]
    sections = [Section(None, abstract[:labels[0].start()].rstrip(), None, 0)] if labels[0].start() else []
    for match, following in zip(labels, labels[1:] + [None]):
        end = following.start() if following else len(abstract)
        sections.append(Section(match[1], abstract[match.end():end].rstrip(), None, match.end()))
    return sections


def _spans(tags, source, offset, length) -> list[Span]:
    spans = []
    for tag in tags:
        if tag["source"] != source or tag["start"] is None:
            continue
        start, end = tag["start"] - offset, tag["end"] - offset
        if start >= 0 and (length is None or end <= length):
            spans.append(Span(start, end, (f"{tag['facet']}: {tag['value']}",)))
    return spans


def _links(article) -> list[tuple[str, str]]:
    links = [("PubMed", PUBMED.format(article["pmid"]))]
    if article["doi"]:
        links.append(("DOI " + article["doi"], DOI.format(article["doi"])))
    if article["pmcid"]:
        links.append(("Free full text in PMC", PMC.format(article["pmcid"])))
    return links
