"""Everything the article page shows about one PMID, read from a kaplit database."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.taxonomy import FACETS
from web.markup import Span, render

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
INLINE_LABEL = re.compile(r"(?:^|(?<=[.!?] ))([A-Z][A-Z ,&/-]{2,40}): ")


@dataclass
class Section:
    label: str | None
    text: str
    html: str | None
    start: int  # offset of `text` in the article's plain abstract (tag offsets count from there)


async def load_article(database, pmid: int) -> dict | None:
    rows = (await database.execute("select * from articles where pmid = ?", [pmid])).rows
    if not rows:
        return None
    article = dict(rows[0])
    child = _child_loader(database, pmid)
    tags = await child("select * from tags where pmid = ? order by id")
    sections = _sections(article, await child("select * from abstract_sections where pmid = ? order by position"))
    notices = await child(f"select * from comments_corrections where pmid = ? and ref_type in "
                          f"({','.join('?' * len(NOTICE_TYPES))}) order by position", NOTICE_TYPES)
    return {
        "article": article,
        "title": render(article["title"] or "", article["title_html"], _spans(tags, "title", 0, None)),
        "sections": [(s.label, render(s.text, s.html, _spans(tags, "abstract", s.start, len(s.text))))
                     for s in sections],
        "authors": await child(
            "select au.display_name, au.orcid, aa.affiliations from article_authors aa "
            "join authors au on au.id = aa.author_id where aa.pmid = ? order by aa.position"),
        "links": _links(article),
        "trials": await child("select * from trial_registrations where pmid = ? order by is_trial_registration desc"),
        "mesh": await child("select * from mesh_headings where pmid = ? order by position"),
        "publication_types": await child("select name from publication_types where pmid = ?"),
        "keywords": await child("select keyword from keywords where pmid = ?"),
        "chemicals": await child("select name from chemicals where pmid = ? order by position"),
        "grants": await child("select * from grants where pmid = ? order by position"),
        "notices": notices,
        "banner": BANNERS.get(article["correction_status"]),
        "tags": sorted(tags, key=lambda t: (FACET_ORDER.index(t["facet"]) if t["facet"] in FACET_ORDER
                                            else len(FACET_ORDER), t["source"] == "derived")),
        "facets": FACETS,
    }


def _child_loader(database, pmid):
    async def load(sql, extra=()):
        return [dict(r) for r in (await database.execute(sql, [pmid, *extra])).rows]
    return load


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
