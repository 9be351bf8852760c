"""Safe display of PubMed's inline markup, with tag evidence highlighted at character offsets.

Stored HTML is already reduced to harmless tags by the parser, but the site never trusts the
database it serves: every fragment goes through nh3 (the maintained Rust `ammonia` sanitizer)
with an allow-list of inline tags and no attributes, so `<script>` or `onclick` render inert.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

import nh3
from markupsafe import Markup, escape

INLINE_TAGS = {"i", "b", "sup", "sub", "u", "em", "strong"}
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Span:
    """Characters [start, end) of a text, with the tags they are evidence for."""
    start: int
    end: int
    labels: tuple[str, ...]


def sanitize(fragment: str) -> str:
    return nh3.clean(fragment, tags=INLINE_TAGS, attributes={}, link_rel=None)


def render(text: str, fragment: str | None = None, spans: list[Span] = ()) -> Markup:
    """`text` as HTML, using its marked-up form `fragment` when that has the same characters,
    with each span wrapped in <mark>."""
    spans = merge(spans)
    if fragment:
        clean = sanitize(fragment)
        if html_lib.unescape(_TAG.sub("", clean)) == text:
            return Markup(_mark_fragment(clean, spans))
    return Markup(_mark_text(text, spans))


def merge(spans) -> list[Span]:
    """Overlapping spans joined into one, so that marks never nest."""
    merged: list[Span] = []
    for span in sorted((s for s in spans if s.end > s.start), key=lambda s: (s.start, s.end)):
        if merged and span.start < merged[-1].end:
            last = merged.pop()
            labels = last.labels + tuple(label for label in span.labels if label not in last.labels)
            span = Span(last.start, max(last.end, span.end), labels)
        merged.append(span)
    return merged


def _open(span: Span) -> str:
    return f'<mark title="{escape("; ".join(span.labels))}">'


def _mark_text(text: str, spans: list[Span]) -> str:
    out, pos = [], 0
    for span in spans:
        out += [str(escape(text[pos:span.start])), _open(span), str(escape(text[span.start:span.end])), "</mark>"]
        pos = span.end
    out.append(str(escape(text[pos:])))
    return "".join(out)


def _mark_fragment(fragment: str, spans: list[Span]) -> str:
    """Insert marks into sanitised HTML by counting text characters (an entity is one); a mark
    is closed before every tag and reopened after it, so marks and inline tags never cross."""
    starts = {s.start: s for s in spans}
    ends = {s.end for s in spans}
    out, pos, i, current = [], 0, 0, None
    while i < len(fragment):
        if current and pos in ends:
            out.append("</mark>")
            current = None
        if fragment[i] == "<":
            j = fragment.index(">", i) + 1
            out += ["</mark>", fragment[i:j], _open(current)] if current else [fragment[i:j]]
            i = j
            continue
        if pos in starts:
            current = starts[pos]
            out.append(_open(current))
        j = fragment.index(";", i) + 1 if fragment[i] == "&" else i + 1
        out.append(fragment[i:j])
        i, pos = j, pos + 1
    if current:
        out.append("</mark>")
    return "".join(out)
