"""Anchor words: which rule regexes are worth running on a text, and where.

Every match of a rule contains one of its anchor words (a literal it cannot match without).
One Aho-Corasick pass finds every rule's anchors in a text; a rule none of
whose anchors occurs is skipped, and the others search only a window around each anchor. Most
rules have no anchor in a given abstract, so this is what makes tagging fast: a substring search
per anchor and rule cost more than the regexes themselves.

An anchor that begins an alternative of a rule wrapped in `\\b(...)` can only match at the start
of a word and is counted only there: "ect" (electroconvulsive therapy) is not looked for in
"effect", nor "rat" in "duration". Where an anchor begins every alternative it stands for, a
match can only start on it: the regex is tried there alone instead of across a window.

The pass is ahocorasick_rs's DFA (Rust), not pyahocorasick: on the gold abstracts (~1,900
characters, ~60 anchor hits each) pyahocorasick's trie walk took 38 us an abstract, the DFA 13
(bench/tag.py: the whole tagger ~11 % faster, ~2,050 -> ~2,280 abstracts/s). Its matches come as
(word number, start, end) in
characters of the str, overlapping ones included, as pyahocorasick's `iter` gave them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ahocorasick_rs

REACH = 80  # characters around an anchor word within which its rule's match must lie


@dataclass(frozen=True, slots=True)
class Anchor:
    word: str
    at_word_start: bool = False  # counts only where a word starts
    leads: bool = False  # a match starts with it
    ends: bool = False  # a match ends with it, at the end of a word


def anchors(pattern: str) -> tuple[Anchor, ...] | None:
    """The anchors of a pattern, or None when some alternative has none (the rule always runs)."""
    core = re.sub(r"\(\?<?[=!][^)]*\)", "", pattern)  # lookarounds
    core = re.sub(r"\([^()]*\)\?", "\0", core)  # optional groups: a gap no anchor may span
    core = re.sub(r".[?*]", "\0", core)  # optional characters: likewise
    word_bounded = (re.fullmatch(r"\\b\((?:\?:)?.*\)(?:\\b)?", pattern) is not None and _one_group(pattern[2:])
                    or re.fullmatch(r"\\b[a-z0-9 -]+\\b", pattern) is not None)
    core = core.replace("\\b", "")
    found = []
    for alternative in _alternatives(core):
        words = _anchor_words(alternative)
        if words is None:
            return None
        leading = re.sub(r"\\(.)", r"\1", alternative).lower()
        for word in words:
            leads = leading.startswith(word)
            found.append(Anchor(word, word_bounded and leads and word[0].isalnum(), leads))
    return tuple(dict.fromkeys(found))


def _one_group(text: str) -> bool:
    """Whether text starts with a group that closes at its end (before a final \\b)."""
    depth, escaped = 0, False
    for position, char in enumerate(text):
        if not escaped:
            depth += (char == "(") - (char == ")")
            if depth == 0:
                return text[position + 1:] in ("", "\\b")
        escaped = char == "\\" and not escaped
    return False


def _alternatives(core: str) -> list[str]:
    """Top-level alternatives, looking inside a group that wraps the whole pattern."""
    parts, depth, current = [], 0, ""
    for char in core:
        depth += char == "("
        depth -= char == ")"
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    out = []
    for part in parts:
        inner = re.fullmatch(r"\((?:\?:)?(.*)\)(\\w\*)?", part)
        if inner and _balanced(inner.group(1)):
            out += _alternatives(inner.group(1))
        else:
            out.append(part)
    return out


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += (char == "(") - (char == ")")
        if depth < 0:
            return False
    return depth == 0


def _literal(alternative: str) -> str | None:
    """The phrase an alternative matches if it is a plain one (escaped characters and all:
    "i.v", "(s)-ketamine"), else None."""
    unescaped = re.sub(r"\\[^a-zA-Z0-9\0]", "", alternative)  # escaped punctuation is literal
    if re.search(r"[()\[\]{}+*?|^$\0\\]", unescaped):
        return None
    literal = re.sub(r"\\(.)", r"\1", alternative)
    return literal.lower() if len(literal) >= 3 else None


def _anchor_words(alternative: str) -> list[str] | None:
    """Words one of which every match of the alternative contains: the alternative itself if it
    is a plain phrase; else its longest run of letters outside inner alternations; else the
    branches of an inner alternation of plain words ("we (report|present) a case")."""
    literal = _literal(alternative)
    if literal:
        return [literal]
    flat = alternative
    while re.search(r"\([^()]*\|[^()]*\)", flat):  # inner alternations: any branch may match
        flat = re.sub(r"\([^()]*\|[^()]*\)", " ", flat)
    runs = sorted(re.findall(r"[a-z]{3,}", re.sub(r"\\[a-zA-Z.]|\[[^\]]*\]", " ", flat).lower()), key=len, reverse=True)
    groups = [branches.split("|") for branches in re.findall(r"\(((?:[a-z]{3,}\|)+[a-z]{3,})\)", alternative)]
    rare = [run for run in runs if run not in COMMON_WORDS]
    if rare or not groups:
        return (rare or runs)[:1] or None
    return max(groups, key=lambda words: min(map(len, words)))


# Words too frequent in this literature to be good anchors: a rule anchored on one would run near
# every mention ("ketamine" in "ketamine (abuse|misuse)"); a rarer word of the pattern is used instead.
COMMON_WORDS = frozenset({"ketamine", "treatment", "depress", "depression", "disorder", "patients"})


class AnchorIndex:
    """Every rule's anchors in one automaton; `spots` finds where they stand in a text."""

    def __init__(self, rule_anchors: list[tuple[Anchor, ...] | None]):
        by_word: dict[str, dict[int, list[bool]]] = {}  # word → rule → [at word start, leads, ends]
        for index, found in enumerate(rule_anchors):
            for anchor in found or ():
                rules = by_word.setdefault(anchor.word, {})
                flags = rules.setdefault(index, [True, True, True])  # the same word twice in a rule: both must hold
                flags[:] = [flags[0] and anchor.at_word_start, flags[1] and anchor.leads, flags[2] and anchor.ends]
        self.rules = []  # per anchor word: its rules (index, leads, ends) that count it inside a word, and all of them
        for rules in by_word.values():
            anywhere = tuple((index, leads, ends) for index, (at_start, leads, ends) in rules.items() if not at_start)
            everywhere = tuple((index, leads, ends) for index, (_, leads, ends) in rules.items())
            self.rules.append((anywhere, everywhere))
        self.automaton = ahocorasick_rs.AhoCorasick(list(by_word), implementation=ahocorasick_rs.Implementation.DFA)
        self.always = frozenset(index for index, found in enumerate(rule_anchors) if found is None)

    def spots(self, lowered: str) -> dict[int, list[tuple[int, bool, int | None]]]:
        """Where the anchor words of each rule occur, in text order: rule index → (position,
        whether a match would start there, where it would end if it must end there)."""
        spots: dict[int, list[tuple[int, bool, int | None]]] = {}
        rules = self.rules
        for number, start, end in self.automaton.find_matches_as_indexes(lowered, overlapping=True):
            inside_a_word, at_word_start = rules[number]
            before = lowered[start - 1] if start else " "
            for index, leads, ends in inside_a_word if before.isalnum() or before == "_" else at_word_start:
                if not ends:
                    spots.setdefault(index, []).append((start, leads, None))
                elif end == len(lowered) or not (lowered[end].isalnum() or lowered[end] == "_"):
                    spots.setdefault(index, []).append((start, leads, end))
        for positions in spots.values():
            positions.sort()  # anchors of different lengths are reported by where they end
        return spots


def near(pattern, text: str, lowered: str, spots, reach: int = REACH):
    """The pattern's matches, looked for only around `spots`, where its anchor words occur (every
    match contains one) and at most `reach` characters before them; far cheaper than scanning
    the whole text with the regex."""
    end_of_last = -1
    for spot, leads, until in spots:
        if leads:
            if spot <= end_of_last:
                continue
            match = pattern.match(text, spot)
        elif until:
            match = pattern.search(text, max(spot - reach, end_of_last + 1, 0), until)
        else:  # end the window at a space, so that it never cuts a word (a cut word would fake a \b)
            stop = lowered.find(" ", spot + reach)
            match = pattern.search(text, max(spot - reach, end_of_last + 1, 0), len(text) if stop < 0 else stop)
        if match and match.start() > end_of_last:
            end_of_last = match.end() - 1
            yield match
