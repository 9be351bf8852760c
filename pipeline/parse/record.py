"""The normalized form every parser produces and the store consumes.

One `Article` per PubMed record, whatever the source format (efetch / baseline XML or a MEDLINE
.nbib export). `article` holds the columns of the `articles` table; each list holds the rows of one
child table, without the `pmid` column (the store adds it). A `Deletion` carries the PMIDs of a
`DeleteCitation` block; a `Rejected` stands for a record that could not be read.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field

from kaplit.pipeline.parse.normalize import registry_ids

RETRACTED_TYPE = "Retracted Publication"
TRIAL_REGISTRIES = frozenset(
    {"ClinicalTrials.gov", "ISRCTN", "EudraCT", "ANZCTR", "ChiCTR", "CTRI", "DRKS", "JPRN",
     "IRCT", "NTR", "PACTR", "ReBec", "RPCEC", "SLCTR", "TCTR", "CRiS", "REPEC", "LBCTR", "ITMCTR"}
)

#: CommentsCorrections RefTypes that change how far a reader can trust the article itself,
#: in the order of severity used for `articles.correction_status`.
CORRECTION_STATUSES = {
    "RetractionIn": "retracted",
    "ExpressionOfConcernIn": "expression of concern",
    "ErratumIn": "erratum",
    "UpdateIn": "updated",
}


@dataclass(slots=True)
class Article:
    article: dict
    authors: list[dict] = field(default_factory=list)
    sections: list[dict] = field(default_factory=list)
    mesh: list[dict] = field(default_factory=list)
    publication_types: list[dict] = field(default_factory=list)
    keywords: list[dict] = field(default_factory=list)
    chemicals: list[dict] = field(default_factory=list)
    grants: list[dict] = field(default_factory=list)
    accessions: list[dict] = field(default_factory=list)
    comments_corrections: list[dict] = field(default_factory=list)

    @property
    def pmid(self) -> int:
        return self.article["pmid"]

    def finish(self) -> "Article":
        """Fill the columns derived from the child rows, then the content hash."""
        row = self.article
        row["abstract"] = self._plain_abstract()
        if row["abstract"] and len(row["abstract"]) > MAX_ABSTRACT_CHARS:
            raise RecordError(f"PMID {self.pmid}: abstract of {len(row['abstract']):,} characters is not plausible "
                              f"(the limit is {MAX_ABSTRACT_CHARS:,}; PubMed's longest are a few thousand)")
        self._add_trials_named_in_abstract()
        types = {p["name"] for p in self.publication_types}
        ref_types = {c["ref_type"] for c in self.comments_corrections}
        row["is_retracted"] = int(RETRACTED_TYPE in types or "RetractionIn" in ref_types)
        row["correction_status"] = next(
            (status for ref, status in CORRECTION_STATUSES.items() if ref in ref_types),
            "retracted" if row["is_retracted"] else None,
        )
        row["authors"] = ", ".join(a["display_name"] for a in self.authors) or None
        row["first_author"] = self.authors[0]["display_name"] if self.authors else None
        row["keywords_text"] = "; ".join(k["keyword"] for k in self.keywords) or None
        row["mesh_text"] = "; ".join(m["heading"] for m in self.mesh) or None
        row["publication_types_text"] = "; ".join(p["name"] for p in self.publication_types) or None
        row["nct_ids"] = (
            " ".join(a["accession"] for a in self.accessions if a["accession"].startswith("NCT"))
            or None
        )
        row["content_hash"] = self._hash()
        return self

    def _plain_abstract(self) -> str | None:
        parts = [
            f"{s['label']}: {s['text']}" if s["label"] else s["text"] for s in self.sections if s["text"]
        ]
        return "\n".join(parts) or None

    def _add_trials_named_in_abstract(self):
        known = {a["accession"] for a in self.accessions}
        for registry, accession in registry_ids(self.article["abstract"]):
            if accession not in known:
                self.accessions.append({"databank": registry, "accession": accession, "source": "abstract"})
        for row in self.accessions:
            row["is_trial_registration"] = int(row["databank"] in TRIAL_REGISTRIES)

    def _hash(self) -> str:
        """Digest of the normalized content (pickle: deterministic for these plain values, and
        several times faster than JSON with sorted keys)."""
        row = self.article
        row["content_hash"] = None
        payload = (row, self.authors, self.sections, self.mesh, self.publication_types, self.keywords,
                   self.chemicals, self.grants, self.accessions, self.comments_corrections)
        return hashlib.blake2b(pickle.dumps(payload, protocol=4), digest_size=12).hexdigest()


@dataclass(slots=True)
class Deletion:
    pmids: list[int]


# Far above any real abstract (PubMed's longest run to a few thousand characters): a record past
# it is a corrupt or hostile file, and would bloat every page and the full-text index.
MAX_ABSTRACT_CHARS = 200_000


class RecordError(ValueError):
    """One record cannot be used (for example it has no PMID); the rest of the file still can."""


@dataclass(slots=True)
class Rejected:
    """A record the parser had to skip, with the reason (parsers yield it instead of raising,
    so that one bad record does not end the stream)."""

    reason: str


def author_key(author: dict) -> str:
    """A stable identity for the `authors` table: ORCID when known, otherwise the name."""
    if author.get("orcid"):
        return "orcid:" + author["orcid"]
    if author.get("collective_name"):
        return "group:" + author["collective_name"].casefold()
    parts = (author.get("last_name") or "", author.get("fore_name") or author.get("initials") or "")
    return "name:" + "|".join(p.casefold() for p in parts)


def display_name(author: dict) -> str:
    if author.get("collective_name"):
        return author["collective_name"]
    name = author.get("last_name") or ""
    if author.get("initials"):
        name += " " + author["initials"]
    if author.get("suffix"):
        name += " " + author["suffix"]
    return name.strip()
