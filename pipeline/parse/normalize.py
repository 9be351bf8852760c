"""Small normalizers shared by the XML and MEDLINE parsers: dates, whitespace, identifiers."""

from __future__ import annotations

import re
from datetime import date

MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
# Seasons map to their first month so that "1999 Spring" sorts between March and June.
SEASONS = {"winter": 1, "spring": 3, "summer": 6, "fall": 9, "autumn": 9}
EARLIEST_YEAR, LATEST_YEAR = 1700, date.today().year + 2

_YEAR = re.compile(r"\b(1[7-9]\d\d|2[01]\d\d)\b")
_WORD = re.compile(r"[A-Za-z]+|\d+")
# Trial registry accessions as printed in abstracts, by the DataBankList name NLM gives each registry
REGISTRY_IDS = {
    "ClinicalTrials.gov": r"NCT\d{8}",
    "EudraCT": r"\d{4}[-\u2010\u2011]\d{6}[-\u2010\u2011]\d{2}(?:-\d{2})?",  # and CTIS's EU CT numbers
    "ISRCTN": r"ISRCTN\d{8}",
    "ANZCTR": r"ACTRN\d{14}p?",
    "ChiCTR": r"ChiCTR(?:-[A-Z]{2,4}-)?\d{8,11}",
    "IRCT": r"IRCT\d{6,14}N\d{1,3}",
    "DRKS": r"DRKS\d{8}",
    "CTRI": r"CTRI/\d{4}/\d{2,3}/\d{6}",
    "JPRN": r"(?:jRCTs?\d{9,10}|UMIN\d{9})",
}
_REGISTRY_ID = re.compile("|".join(rf"(?P<r{i}>\b{pattern}\b)" for i, pattern in enumerate(REGISTRY_IDS.values())))
_REGISTRIES = list(REGISTRY_IDS)
_HYPHENS = re.compile("[\u2010\u2011]")


def squash(text: str | None) -> str | None:
    """Collapse runs of whitespace; empty becomes None."""
    if not text:
        return None
    if "\n" in text or "  " in text or "\t" in text or "\r" in text:
        return " ".join(text.split()) or None
    return text.strip() or None  # the common case, several times cheaper than split/join


def month_number(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip().lower()
    if value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    return MONTHS.get(value) or MONTHS.get(value[:3]) or SEASONS.get(value)


def iso_date(year, month=None, day=None) -> tuple[int | None, str | None]:
    """(year, partial ISO date "YYYY", "YYYY-MM" or "YYYY-MM-DD"); absurd parts are dropped.

    Partial ISO strings sort correctly as text, so `pub_date` serves as the sort key.
    """
    try:
        year = int(str(year).strip())
    except (TypeError, ValueError):
        return None, None
    if not EARLIEST_YEAR <= year <= LATEST_YEAR:
        return None, None
    month = month_number(month) if not isinstance(month, int) else month
    if not month:
        return year, f"{year:04d}"
    try:
        day = int(str(day).strip()) if day not in (None, "") else None
        if day:
            date(year, month, day)
            return year, f"{year:04d}-{month:02d}-{day:02d}"
    except ValueError:
        pass
    return year, f"{year:04d}-{month:02d}"


def free_text_date(text: str | None) -> tuple[int | None, str | None]:
    """Parse MedlineDate-style text: "1997 Jul-Aug", "1999 Spring", "2000 Dec-2001 Jan", "2013 06 10"."""
    if not text:
        return None, None
    found = _YEAR.search(text)
    if not found:
        return None, None
    words = _WORD.findall(text[found.end():])
    month = day = None
    if words:
        month = month_number(words[0])
        if month and len(words) > 1 and words[1].isdigit() and len(words[1]) <= 2:
            day = words[1]
    return iso_date(found.group(1), month, day)


def compact_date(text: str | None) -> str | None:
    """MEDLINE's "20160512" or "2016/05/12 06:00" → "2016-05-12"."""
    if not text:
        return None
    digits = re.sub(r"\D", "", text)[:8]
    if len(digits) != 8:
        return None
    return iso_date(digits[:4], int(digits[4:6]) or None, digits[6:8])[1]


def registry_ids(text: str | None) -> list[tuple[str, str]]:
    """(registry, accession) of every trial registration the text names, sorted, once each."""
    if not text:
        return []
    found = {(_REGISTRIES[int(m.lastgroup[1:])], _HYPHENS.sub("-", m.group())) for m in _REGISTRY_ID.finditer(text)}
    return sorted(found)


def clean_doi(value: str | None) -> str | None:
    value = squash(value)
    if not value:
        return None
    value = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", value, flags=re.I)
    return value if value.startswith("10.") else None


def clean_pmcid(value: str | None) -> str | None:
    value = squash(value)
    if not value:
        return None
    value = value.upper()
    return value if value.startswith("PMC") else "PMC" + value
