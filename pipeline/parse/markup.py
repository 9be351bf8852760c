"""Inline markup of PubMed text elements (ArticleTitle, AbstractText, ...).

PubMed keeps a handful of presentational tags inside text (`<i> <b> <sup> <sub> <u>`) and,
rarely, MathML. We keep the presentational tags for display (everything else is reduced to its
escaped text, so nothing from a record can inject markup into a page) and derive plain text for
search.
"""

from __future__ import annotations

from html import escape

from kaplit.pipeline.parse.normalize import squash

DISPLAY_TAGS = frozenset({"i", "b", "sup", "sub", "u"})
MATHML_NS = "http://www.w3.org/1998/Math/MathML"


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _is_math(elem) -> bool:
    return elem.tag == f"{{{MATHML_NS}}}math" or _local(elem.tag) == "math"


def _math_text(elem) -> str:
    """MathML reduced to its tokens separated by spaces: <msubsup><mi>η</mi><mi>p</mi>... → "η p 2"."""
    return " ".join(t.strip() for t in elem.itertext() if t.strip())


def to_html(elem) -> str | None:
    """The element's content as safe HTML with only DISPLAY_TAGS kept, or None when it has no
    inline markup at all (most titles and abstracts): the plain text then says everything, and
    not storing a second copy keeps the database a third smaller."""
    if elem is None or not len(elem):
        return None
    return squash("".join(_html_parts(elem, top=True)))


def _html_parts(elem, top=False):
    if not top and _is_math(elem):
        yield escape(_math_text(elem), quote=False)
        return
    tag = _local(elem.tag)
    keep = not top and tag in DISPLAY_TAGS
    if keep:
        yield f"<{tag}>"
    if elem.text:
        yield escape(elem.text, quote=False)
    for child in elem:
        yield from _html_parts(child)
        if child.tail:
            yield escape(child.tail, quote=False)
    if keep:
        yield f"</{tag}>"


def to_text(elem) -> str | None:
    """The element's plain text, whitespace collapsed, MathML reduced to its tokens."""
    if elem is None:
        return None
    if not len(elem):
        return squash(elem.text)
    if not any(_is_math(e) for e in elem.iter()):
        return squash("".join(elem.itertext()))
    return squash("".join(_text_parts(elem)))


def _text_parts(elem):
    if _is_math(elem):
        yield " " + _math_text(elem) + " "
        return
    if elem.text:
        yield elem.text
    for child in elem:
        yield from _text_parts(child)
        if child.tail:
            yield child.tail


def text_of(elem) -> str | None:
    return None if elem is None else squash(elem.text)
