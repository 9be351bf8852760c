"""The linear layer: sparse logistic models that weigh the words of a record and the rule tagger's
own hits to decide labels the rules alone get wrong too often.

Each (task, label) the layer decides has its own model: a bias and a few hundred non-zero
weights (L1-regularised) over features of the kinds in FEATURE_KINDS: words of the title and
abstract (lower case, common function words left out), long words by their first six letters,
words a negation governs, the rules' hits and the rules' own labels.

A decision is explainable: the tag it makes names the features that pushed it over the line,
strongest first, and points at the first occurrence of the strongest one in the text.
The weights are in `pipeline/tagging/weights/linear.json`, written by `kaplit train` (pipeline/tagging/train.py)
from the gold file in ../shared and reproducible from it; which labels the layer decides (and
which stay with the rules) was chosen there by cross-validation.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from functools import cache
from itertools import chain, islice
from pathlib import Path

import ahocorasick_rs
import numpy

from kaplit.pipeline.tagging.indexed import term_key
from kaplit.pipeline.tagging.taxonomy import COUNT_FACET, DETAIL_VALUES, TASK_FACET

WEIGHTS = Path(__file__).with_name("weights") / "linear.json"
# How to read a feature's name (its first two characters say its kind), with an example: the
# reasons of a linear tag are such names; the site's /taxonomy page shows this table.
FEATURE_KINDS = {
    "t:": ("t:esketamine", "the word in the title"),
    "a:": ("a:placebo", "the word in the abstract"),
    "t*": ("t*random", "a word of the title that begins with these six letters (randomised, randomized, ...)"),
    "a*": ("a*retros", "a word of the abstract that begins with these six letters (retrospective, ...)"),
    "n:": ("n:ptsd", "the word where a negation governs it (\"patients without PTSD\")"),
    "r:": ("r:condition:Depression:title", "a rule fired (in the title, if the name ends so)"),
    "L:": ("L:study_type:Case report", "the label the rules alone give for a task"),
    "m:": ("m:stress disorders, post-traumatic", "a MeSH heading NLM's indexers gave the record"),
    "k:": ("k:esketamine", "a keyword the authors gave the record"),
}
# one label a record (a design; a range of participants, "multilabel": false in the gold's
# labelsets.json): the best-scoring label wins
SINGLE_LABEL = {"study_type", "number_of_participants"}
EVIDENCE_WORDS = 3
# How much the share of records annotated with a label set counts against its labels' scores, when
# the layer chooses a task's labels as a set (LabelSets); cross-validation tried 0, 0.25 and 0.5.
SET_PRIOR = 0.25
# A long word also counts by its first six letters, `a*random` for "randomised", "randomized",
# "randomly", ...: one feature for the variants of a word; which tasks weigh them is train.STEMMED.
STEM = 6


@dataclass(slots=True)  # not frozen, as pipeline/tagging/tagger.py's Tag: for speed
class Spot:
    """Where a feature occurs: the source field and the matched words with their offsets."""
    source: str
    matched: str | None = None
    start: int | None = None
    end: int | None = None


@dataclass(slots=True)
class Decision:
    task: str
    label: str
    probability: float
    reasons: tuple[tuple[str, float], ...]  # (feature, contribution), strongest first
    why: str  # the reasons as text: "a:depressive +1.10, r:condition:Depression +0.90"
    spot: Spot | None


def features(title: str, abstract: str, rule_tags, rule_labels: dict, vocabulary: dict | None = None,
             read: dict | None = None, mesh=(), keywords=()) -> tuple[dict, dict]:
    """Every feature of a record, with where it occurs: the source field for a word (located
    only when it becomes evidence), (source, start, end, matched) for a rule hit, None when
    it has no place; and per source field, the text and its lower-case form with negated
    stretches blanked out (where evidence is looked for). With a `vocabulary` (LinearLayer's:
    the weighed features each word gives, and the weighed negated words), other features are
    left out: they would weigh nothing. `read` may give, per source field, its lower-case text
    and where negation words start in it (the tagger's own pass over the text finds them); they
    are found here otherwise. Without an abstract, the rules' participant count ("Unknown") is
    left out: every gold record has an abstract, and there an unknown count marks a registry
    entry or protocol, so it made title-only trials protocols (design F1 on gold titles alone,
    cross-validated: 0.476 with it, 0.508 without). MeSH headings and keywords are features of
    their own (`indexing_features`); a record without them is decided from its text alone."""
    found: dict[str, str | tuple | None] = {}
    views = {}
    for prefix, stem, source, text in (("t:", "t*", "title", title), ("a:", "a*", "abstract", abstract)):
        lowered, cues = (read or {}).get(source) or (text.lower(), None)
        plain, negated = _split_negated(lowered, cues)
        views[source] = (text, plain)
        if vocabulary is None:
            names = [name for word in set(words(plain)) - STOPWORDS for name in word_names(prefix, stem, word)]
            negated_words = set(words(negated)) - STOPWORDS
        else:
            names = chain.from_iterable(map(vocabulary[prefix].__getitem__, words(plain)))
            negated_words = vocabulary["n:"].intersection(words(negated)) if negated else ()
        found.update(dict.fromkeys(names, source))
        found.update(dict.fromkeys(map("n:".__add__, negated_words), None))
    for tag in rule_tags:  # a rule hit in the title says more than one in the abstract: both count
        if tag.value in DETAIL_VALUES or tag.facet == COUNT_FACET:  # finer values and the count itself
            continue  # leave the annotation's labels alone (the count's range is a feature)
        place = (tag.source, tag.start, tag.end, tag.matched) if tag.matched else None
        for name in _names("r", tag.facet, tag.value, tag.source):
            found.setdefault(name, place)
    for task, labels in rule_labels.items():
        if task == "number_of_participants" and not abstract.strip():
            continue  # no abstract: its count is not unknown but absent (see above)
        for label in labels:
            found[_names("L", task, label)[0]] = None
    found.update(indexing_features(mesh, keywords))
    return found, views


def indexing_features(mesh=(), keywords=()) -> dict:
    """The features of a record's MeSH headings and author keywords, each with where it stands
    (source "mesh" or "keyword", the term as given): `m:` and `k:` and the term as indexed.term_key
    writes it."""
    found = {}
    for kind, source, terms in (("m:", "mesh", mesh), ("k:", "keyword", keywords)):
        for term in terms:
            name = term_key(term)
            if name:
                found.setdefault(kind + name, (source, None, None, term))
    return found


def word_names(kind: str, stem_kind: str, word: str) -> tuple[str, ...]:
    """A word's feature names: the word ("a:randomised"), and a word longer than STEM also by
    its first STEM letters ("a*random")."""
    return (kind + word, stem_kind + word[:STEM]) if len(word) > STEM else (kind + word,)


def words(lowered: str) -> list[str]:
    """The words of a lower-case text: runs of a-z, 0-9 and hyphens, not starting with a hyphen
    (what the regex [a-z0-9][a-z0-9-]* finds, in half its time: bytes.translate and split run in
    C; a test checks they agree on every gold and snapshot text)."""
    spaced = b" " + lowered.encode("ascii", "replace").translate(_WORD_BYTES)
    while b" -" in spaced:  # a hyphen never starts a word
        spaced = spaced.replace(b" -", b"  ")
    return spaced.decode("ascii").split()


_WORD_BYTES = bytes(code if chr(code) in "abcdefghijklmnopqrstuvwxyz0123456789-" else 32 for code in range(256))


@cache
def _names(kind: str, facet: str, value: str, source: str | None = None) -> tuple[str, ...]:
    """The feature names of a rule hit (`r:facet:value`, and with its source) or a rule label."""
    return (f"{kind}:{facet}:{value}",) + ((f"{kind}:{facet}:{value}:{source}",) if source else ())


def _split_negated(lowered: str, cues: list[int] | None = None) -> tuple[str, str]:
    """The text with every negated stretch blanked out, and those stretches. A word a negation
    governs ("without PTSD", "no history of alcohol use") becomes its own feature, `n:word`, so
    that it never counts as the word itself; the negation reaches at most five words, and not
    past the end of the clause or a "but", "and" or "or". (What NEGATED.sub would do, tried only
    where a negation word starts, `cues`: scanning every character with the regex cost more.)"""
    pieces, negated, done = [], [], 0
    for start in negation_cues(lowered) if cues is None else cues:
        if start < done:
            continue
        match = NEGATED.match(lowered, start)
        if match:
            pieces += (lowered[done:start], " " * (match.end() - start))
            negated.append(match.group(1))
            done = match.end()
    if not done:
        return lowered, " ".join(negated)
    pieces.append(lowered[done:])
    return "".join(pieces), " ".join(negated)


def negation_cues(lowered: str) -> list[int]:
    """Where the negation words (NEGATION_WORDS, "exclu...") start a word, in text order."""
    starts = (start for _, start, _ in NEGATION_CUES.find_matches_as_indexes(lowered, overlapping=True))
    return sorted(s for s in starts if not s or not (lowered[s - 1].isalnum() or lowered[s - 1] == "_"))


NEGATION_WORDS = ("no", "not", "without", "absence", "free", "non", "never", "neither", "nor", "unlike")
NEGATED = re.compile(rf"\b(?:{'|'.join(NEGATION_WORDS)}|exclu[a-z\-]*)\b"
                     r"((?:[^a-z0-9.;:,!?()]+(?!(?:but|and|or)\b)[a-z0-9][a-z0-9\-]*){0,5})")
NEGATION_CUE_WORDS = (*NEGATION_WORDS, "exclu")
NEGATION_CUES = ahocorasick_rs.AhoCorasick(NEGATION_CUE_WORDS, implementation=ahocorasick_rs.Implementation.DFA)
STOPWORDS = set("a an the of in on at to for from by with as is are was were be been this that these those "
                "it its we our their they which who whom than then there here into over after before during "
                "between within also such both each other more most".split())


def _locate(place, feature: str, views: dict) -> Spot | None:
    """Where a feature's words stand in the text, for the evidence of a tag (None if unknown)."""
    if place is None or not views:
        return None
    if isinstance(place, tuple):
        source, start, end, matched = place
        return Spot(source, matched, start, end)
    text, plain = views[place]
    word, stem = feature[2:], feature[1] == "*"
    start = _find_word(plain, word, stem)
    if start < 0 or len(plain) != len(text):  # (case folding moved the offsets)
        return None
    end = start + len(word)
    while stem and end < len(plain) and plain[end] in WORD_CHARS:  # the whole word the stem begins
        end += 1
    matched = text[start:end]
    if matched.isupper() and text[end:end + 1] == ":" or matched.isdigit():
        return None  # a section label ("METHODS:") or a bare number ("0" of "p=0.048") is no evidence to show
    return Spot(place, matched, start, end)


def _find_word(text: str, word: str, stem: bool = False) -> int:
    """The first occurrence of word in text that starts a word and ends it, or for a stem, that
    starts a longer word ("random" of "randomized", not the word "random"); -1 if none."""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        if (start == 0 or text[start - 1] not in WORD_CHARS) and (
                (end < len(text) and text[end] in WORD_CHARS) == stem):
            return start
        start = text.find(word, start + 1)
    return -1


WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


WORDS_REMEMBERED = 200_000  # ~20 MB of WordFeatures per process
REASONS_REMEMBERED = 50_000  # decisions' explanations remembered per process (~400 bytes each: ~20 MB)


class WordFeatures(dict):
    """word → the names of its features that the layer weighs ("randomised" → ("a:randomised",
    "a*random")), remembered as words come: a record's words then cost one C-level lookup each,
    where cutting and naming them anew for every record cost ~17 us of ~470 (bench/tag.py)."""

    def __init__(self, kind: str, stem_kind: str, weighed: dict):
        super().__init__()
        self.kind, self.stem_kind, self.weighed = kind, stem_kind, weighed

    def __missing__(self, word: str) -> tuple[str, ...]:
        if len(self) >= WORDS_REMEMBERED:  # a bound on the memory: past it, words are looked up anew
            self.clear()
        known = self[word] = tuple(name for name in word_names(self.kind, self.stem_kind, word) if name in self.weighed)
        return known


class LabelSets:
    """The label sets the annotators gave one task's records, and how often: the layer gives a
    record the set whose labels' scores add up highest, plus SET_PRIOR times the log of its
    share. A label then brings those that go with it (depression, "Psychiatric condition"), and
    no record gets a combination the annotators never used, but for a label the title names
    (LinearLayer.from_title), which is added to the set."""

    def __init__(self, keys: list[tuple[str, str]], task: str, sets: list[dict]):
        column = {label: n for n, (t, label) in enumerate(keys) if t == task}
        self.members = [[column[label] for label in labelled["labels"]] for labelled in sets]
        self.matrix = numpy.zeros((len(sets), len(keys)))
        for row, numbers in enumerate(self.members):
            self.matrix[row, numbers] = 1.0
        total = sum(labelled["records"] for labelled in sets)
        self.prior = SET_PRIOR * numpy.log([labelled["records"] / total for labelled in sets])

    def pick(self, scores: numpy.ndarray) -> list[int]:
        return self.members[int((self.matrix @ scores + self.prior).argmax())]


class LinearLayer:
    def __init__(self, model: dict, digest: str = ""):
        self.version = f"{model['version']}-{digest[:8]}" if digest else model["version"]
        # what the model file says of itself (scores, choices, training data): all but the weights
        self.description = {key: value for key, value in model.items() if key != "models"}
        self.decides: dict[str, list[str]] = model["decides"]
        self.keys = [(task, label) for task, labels in self.decides.items() for label in labels]
        self.bias = numpy.array([model["models"][task][label]["bias"] for task, label in self.keys])
        self.numbers = {task: [n for n, (t, _) in enumerate(self.keys) if t == task] for task in self.decides}
        # the tasks it gives every record at least its best label of (a single-label task: exactly one)
        self.whole = set(model.get("whole", ()))
        # design → the probability from which the layer's design is certain (Tagger.design_certain)
        self.certain = model.get("certain_designs", {})
        self.sets = {task: LabelSets(self.keys, task, sets) for task, sets in model.get("label_sets", {}).items()}
        # labels a rule's hit in the title gives whatever the scores (train.from_title chose them):
        # label number -> that hit's feature
        self.from_title = {self.keys.index((task, label)): title_feature(task, label)
                           for task, labels in model.get("from_title", {}).items() for label in labels}
        weights = [model["models"][task][label]["weights"] for task, label in self.keys]
        # the weights as a matrix (feature × label): a record's scores are the bias plus the sum
        # of its features' rows, one numpy call where adding them up in Python cost ~850 steps
        self.row = {feature: row for row, feature in enumerate(dict.fromkeys(f for w in weights for f in w))}
        self.matrix = numpy.zeros((len(self.row), len(self.keys)))
        for number, label_weights in enumerate(weights):
            for feature, weight in label_weights.items():
                self.matrix[self.row[feature], number] = weight
        self.vocabulary = {"t:": WordFeatures("t:", "t*", self.row), "a:": WordFeatures("a:", "a*", self.row),
                           "n:": {f[2:] for f in self.row if f.startswith("n:")}}
        # per label, the features that speak for it, strongest first: a decision's reasons are
        # the first few of them that the record has
        self.supporters = [[f for _, f in sorted(((w, f) for f, w in label_weights.items() if w > 0), reverse=True)]
                           for label_weights in weights]
        self.reasons = [{f: ((f, round(w, 2)), f"{f} {w:+.2f}") for f, w in label_weights.items() if w > 0}
                        for label_weights in weights]
        self.said: dict[tuple, tuple[tuple, str]] = {}  # (label number, strongest features) -> reasons, text

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "LinearLayer":
        raw = path.read_bytes()
        return cls(json.loads(raw), hashlib.sha256(raw).hexdigest())

    def decide(self, found: dict, views: dict | None = None) -> list[Decision]:
        """The labels the layer gives this record (only among those it decides); the `views`
        of features() let each decision quote the words behind it."""
        rows = [row for row in map(self.row.get, found) if row is not None]
        summed = self.matrix.take(rows, axis=0).sum(axis=0) + self.bias  # (take: faster than [rows])
        scores = summed.tolist()
        named = [n for n, feature in self.from_title.items() if feature in found]
        chosen = []
        for task, numbers in self.numbers.items():
            if task in self.sets:
                picked = self.sets[task].pick(summed)
            else:
                picked = [n for n in numbers if scores[n] > 0]
                if task in self.whole and (not picked or task in SINGLE_LABEL):
                    picked = [max(numbers, key=scores.__getitem__)]
            chosen += (with_named(picked, [n for n in named if n in numbers], task, scores.__getitem__)
                       if named else picked)
        views = views or {}
        return [self._named_in_title(n, scores[n], found, views) if n in named
                else self._decision(n, scores[n], found, views) for n in chosen]

    def _decision(self, number, score, found, views) -> Decision:
        task, label = self.keys[number]
        strongest = tuple(islice(filter(found.__contains__, self.supporters[number]), EVIDENCE_WORDS))
        spot = next((spot for f in strongest if (spot := _locate(found[f], f, views))), None)
        reasons, why = self._explain(number, strongest)
        return Decision(task, label, _probability(score), reasons, why, spot)

    def _named_in_title(self, number, score, found, views) -> Decision:
        """A label the title's own words give (from_title), whatever its score."""
        task, label = self.keys[number]
        feature = self.from_title[number]
        return Decision(task, label, _probability(score), ((feature, 0.0),), f"{feature}: named in the title",
                        _locate(found[feature], feature, views))

    def _explain(self, number, strongest) -> tuple[tuple, str]:
        """A decision's reasons and their text, remembered: records share them (bench/tag.py: 72 ->
        64 us a record for decide()); past REASONS_REMEMBERED they are made anew."""
        said = self.said.get((number, strongest))
        if said is None:
            if len(self.said) >= REASONS_REMEMBERED:
                self.said.clear()
            explained = self.reasons[number]
            said = self.said[number, strongest] = (tuple(explained[f][0] for f in strongest),
                                                   ", ".join(explained[f][1] for f in strongest))
        return said


def title_feature(task: str, label: str) -> str:
    """The feature of a rule's hit for this label in the title."""
    return _names("r", TASK_FACET[task], label, "title")[1]


def with_named(picked: list, named: list, task: str, score=None) -> list:
    """A task's labels with those the title names (from_title): added to the others, or for a
    single-label task instead of its best-scoring one (the best-scoring of those named, by `score`)."""
    if not named:
        return picked
    if task in SINGLE_LABEL:
        return [max(named, key=score) if score else named[0]]
    return picked + [n for n in named if n not in picked]


def _probability(score: float) -> float:
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, score))))
