"""What people type into a search box, as a full-text (FTS5) query that always runs.

FTS5's own syntax reads `treatment-resistant` as "treatment, minus the column resistant" and fails
on `N,N-DMT`, `(R)-ketamine`, a lone quote or a trailing `OR`. Here every word is a quoted term, so
a word with hyphens, commas or brackets is searched as the phrase of its parts (`"5-MeO-DMT"` finds
"5-MeO-DMT" and "5 MeO DMT"); "quoted phrases" stay phrases, an unclosed quote runs to the end;
`word*` is a prefix; AND, OR and NOT (in capitals) combine the terms on either side and are dropped
where they have none. Anything else (brackets for grouping, NEAR, column filters) is FTS5's
advanced syntax, for `?_searchmode=raw` on a table page.
"""

from __future__ import annotations

import re

OPERATORS = ("AND", "OR", "NOT")
MATCH_NOTHING = '""'  # FTS5 matches no row for an empty phrase (and raises no error)
_TOKENS = re.compile(r'"([^"]*)"?|(\S+)')
_PREFIX = re.compile(r"^(\w+)\*$")


def fts_query(text: str | None) -> str:
    """The FTS5 query for `text`, matching nothing when it holds no searchable word."""
    parts: list[str] = []
    for phrase, word in _TOKENS.findall(text or ""):
        if word in OPERATORS:
            if parts and parts[-1] not in OPERATORS:
                parts.append(word)
            continue
        term = _term(phrase if phrase else word, quoted=not word)
        if term:
            parts.append(term)
    while parts and parts[-1] in OPERATORS:
        parts.pop()
    return " ".join(parts) or MATCH_NOTHING


def _term(text: str, quoted: bool) -> str | None:
    prefix = None if quoted else _PREFIX.match(text)
    if prefix:
        return f'"{prefix[1]}"*'
    if not re.search(r"\w", text):
        return None  # nothing FTS5 would index: punctuation alone
    return '"' + text.replace('"', '""') + '"'
