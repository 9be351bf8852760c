"""How many people an abstract says a study had: "n = 24", "68 adult outpatients", "Twenty
healthy volunteers", "One hundred twenty-seven patients", and groups counted one after the other
("20 ecstasy users and 20 healthy controls": 40).

The tagger (pipeline/tagging/tagger.py) looks for COUNTED only around its anchors, the "=" and the nouns
of PEOPLE, and bins the largest count (NUMBER_BINS) as the annotation does.
"""

from __future__ import annotations

import re

UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
         "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
         "seventeen": 17, "eighteen": 18, "nineteen": 19}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
PEOPLE = ("patients", "participants", "subjects", "volunteers", "adults", "individuals", "veterans", "users",
          "respondents", "people", "men", "women", "persons", "cases", "children", "adolescents",
          "controls", "smokers", "drinkers", "outpatients", "inpatients", "students", "youths",
          "males", "consumers", "attendees", "healthy")
# A count starts at most this many characters before the noun ("One hundred and twenty-seven
# treatment-resistant depressed patients": 58); looking no further back saves a fifth of the time.
REACH = 60
NUMBER_BINS = [(20, "1-20"), (40, "21-40"), (60, "41-60"), (80, "61-80"), (100, "81-100"),
               (199, "100-199"), (499, "200-499"), (999, "500-999")]


def _trie(words) -> str:
    """A regex matching exactly these words, branching letter by letter: with the number words
    as a plain alternation, counting cost 80 us an abstract instead of 35."""
    branches: dict[str, list[str]] = {}
    for word in words:
        if word:
            branches.setdefault(word[0], []).append(word[1:])
    parts = [re.escape(letter) + _trie(rest) for letter, rest in sorted(branches.items())]
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})"
    if "" not in words:
        return body
    return f"{body}?" if body.startswith("(?:") else f"(?:{body})?"


_UP_TO_99 = rf"{_trie(TENS)}(?:[- ]{_trie(list(UNITS)[:9])})?|{_trie(UNITS)}"
_WORDS = rf"(?:{_UP_TO_99})(?: hundred(?: (?:and )?(?:{_UP_TO_99}))?)?"
# words that may stand between a number and the people it counts ("24 healthy male volunteers"),
# but not these: "12 months", "27 reports including 1715 patients", "260 million people"
_NOT_BETWEEN = _trie(("month", "months", "year", "years", "week", "weeks", "day", "days", "hour", "hours", "h",
                      "min", "minute", "minutes", "mg", "session", "sessions", "times", "studies", "reports",
                      "trials", "articles", "dose", "doses", "sites", "centers", "centres", "countries", "items",
                      "groups", "arms", "visits", "million", "billion", "percent", "of", "to", "and", "or", "in",
                      "at", "per", "with", "for", "from"))
_DIGITS = r"\d{1,3}(?:,\d{3})+(?!\d)|\d+"  # "1,035", not the "2015," of "In 2015, 26 veterans"
# (the lookahead first: a count starts with a digit or the letter of "n =" or a number word)
COUNTED = re.compile(rf"\b(?=[\dnotfse])(?:n\s*=\s*({_DIGITS})|({_DIGITS}|{_WORDS})\s+"
                     rf"(?:(?!{_NOT_BETWEEN}\b)[\w\-()]+\s+){{0,3}}?{_trie(PEOPLE)}\b)", re.I)
# what may stand between two counts that add up: "and", a comma, a parenthesis ("(ten female)")
_JOINED = re.compile(r"\s*(?:\([^)]*\))?\s*(?:,\s*and|,|and)\s*", re.I)


# what a number written just before (or attached to) is not a count of: "phase 3", "TRANSFORM-3",
# "COVID-19", "0.5", "aged 65", "Figure 2"; and a year after "in", "since", ...
_NOT_A_COUNT_BEFORE = re.compile(
    r"(?:[.\-/]|\b(?:phases?|stages?|grades?|types?|steps?|parts?|waves?|days?|weeks?|months?|years?|"
    r"visits?|sessions?|doses?|figures?|fig|tables?|versions?|levels?|class|aged?|dsm|icd)\s*[-.:]?\s*)$",
    re.I)
_YEAR_BEFORE = re.compile(r"\b(?:in|since|from|between|during|until|by|of|to|and)\s+$", re.I)
_YEAR = re.compile(r"(?:19|20)\d\d")


def is_count(abstract: str, match) -> bool:
    """Whether a COUNTED match counts people, judged by what stands before its number: not a
    phase, trial name, decimal, age, figure number or year ("n = 24" always counts)."""
    if match.group(1):
        return True
    before = max(0, match.start() - 12)
    if _NOT_A_COUNT_BEFORE.search(abstract, before, match.start()):
        return False
    return not (_YEAR.fullmatch(match.group(2)) and _YEAR_BEFORE.search(abstract, before, match.start()))


def value(number: str) -> int:
    """The value of a count as written: "1,035", "Twenty", "one hundred twenty-seven"."""
    number = number.lower().replace(",", "")
    if number.isdigit():
        return int(number)
    total = 0
    for word in re.split(r"[- ]+", number):
        if word == "hundred":
            total = max(total, 1) * 100
        else:
            total += UNITS.get(word, 0) + TENS.get(word, 0)
    return total


def largest(abstract: str, matches) -> tuple[int, int, int] | None:
    """The largest count among these COUNTED matches, or of several in a row that add up ("15
    moderate users, 23 heavy users and 16 ex-users"), with where it is written (start, end)."""
    counted = [(value(m.group(1) or m.group(2)), m) for m in matches if is_count(abstract, m)]
    counted = [(n, m) for n, m in counted if 0 < n < 1_000_000]
    best = max(((n, m.start(), m.end()) for n, m in counted), default=None)
    chain = None  # (sum, start) of the counts joined so far
    for (first, one), (second, other) in zip(counted, counted[1:]):
        if _JOINED.fullmatch(abstract, one.end(), other.start()):
            chain = (chain[0] + second, chain[1]) if chain else (first + second, one.start())
            if chain[0] > best[0]:
                best = (chain[0], chain[1], other.end())
        else:
            chain = None
    for group in _sentence_groups(abstract, [(n, m) for n, m in counted if m.group(1)]):
        total = sum(n for n, _ in group)
        if not any(2 * n == total for n, _ in group) and total > best[0]:  # (else one of them is the total)
            best = (total, group[0][1].start(), group[-1][1].end())
    return best


def _sentence_groups(abstract: str, counted) -> list[list]:
    """The "n = " counts of one sentence, per sentence with two or more ("users (n = 53), controls
    (n = 62) and drug-naive controls (n = 111)": the groups of one study, to add up)."""
    groups: list[list] = []
    for previous, current in zip([None, *counted], counted):
        if previous and not _SENTENCE_END.search(abstract, previous[1].end(), current[1].start()):
            groups[-1].append(current)
        else:
            groups.append([current])
    return [group for group in groups if len(group) > 1]


_SENTENCE_END = re.compile(r"[.;]")


def binned(count: int) -> str:
    return next((label for limit, label in NUMBER_BINS if count <= limit), "≥1000")
