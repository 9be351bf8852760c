"""The linear layer: sparse logistic models that weigh the words of a record and the rule tagger's
own hits to decide labels the rules alone get wrong too often.

Each (task, label) the layer decides has its own model: a bias and a few hundred non-zero
weights (L1-regularised) over features of three kinds:

- `t:word` / `a:word`: a word of the title / of the abstract (lower case);
- `r:facet:value`: a rule of pipeline/tagger.py fired (with the words it matched);
- `L:task:label`: the rules' label for a task (after their defaults and parent labels).

A decision is explainable: the tag it makes names the features that pushed it over the line,
strongest first, and points at the first occurrence of the strongest one in the text.
The weights are in `pipeline/weights/linear.json`, written by `kaplit train` (pipeline/train.py)
from the gold file in ../shared and reproducible from it; which labels the layer decides (and
which stay with the rules) was chosen there by cross-validation.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.taxonomy import GOLD_LABELS

WEIGHTS = Path(__file__).with_name("weights") / "linear.json"
WORD = re.compile(r"[a-z0-9][a-z0-9\-]*")
SINGLE_LABEL = {"study_type"}  # one design per study: the best-scoring label wins
EVIDENCE_WORDS = 3


@dataclass(frozen=True, slots=True)
class Spot:
    """Where a feature occurs: the source field and the matched words with their offsets."""
    source: str
    matched: str | None = None
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    task: str
    label: str
    probability: float
    reasons: tuple[tuple[str, float], ...]  # (feature, contribution), strongest first
    spot: Spot | None


def features(title: str, abstract: str, rule_tags, rule_labels: dict) -> dict[str, tuple | None]:
    """Every feature of a record, with where it first occurs: (source, start, end) for a word,
    (source, start, end, matched) for a rule hit, None when it has no place."""
    found: dict[str, tuple | None] = {}
    for prefix, source, text in (("t:", "title", title), ("a:", "abstract", abstract)):
        lowered = text.lower()
        if len(lowered) != len(text):  # case folding moved the offsets: the words keep no place
            found.update(dict.fromkeys(name for name, _, _ in _words(lowered, prefix)))
            continue
        for name, start, end in _words(lowered, prefix):
            found.setdefault(name, (source, start, end))
    for tag in rule_tags:  # a rule hit in the title says more than one in the abstract: both count
        place = (tag.source, tag.start, tag.end, tag.matched) if tag.matched else None
        found.setdefault(f"r:{tag.facet}:{tag.value}", place)
        found.setdefault(f"r:{tag.facet}:{tag.value}:{tag.source}", place)
    for task, labels in rule_labels.items():
        for label in labels:
            found[f"L:{task}:{label}"] = None
    return found


def _words(lowered: str, prefix: str):
    """(feature, start, end) per word; a word a negation governs ("without PTSD", "no history of
    alcohol use") is its own feature, `n:word`, so that it never counts as the word itself. The
    negation reaches to the end of the clause, at most NEGATION_REACH words."""
    reach, last_end = 0, 0
    for match in WORD.finditer(lowered):
        word = match.group()
        if reach and (CLAUSE_END.search(lowered, last_end, match.start()) or word in ("but", "and", "or")):
            reach = 0
        last_end = match.end()
        if word in NEGATIONS or word.startswith("exclu"):
            reach = NEGATION_REACH
            continue
        if word in STOPWORDS:
            continue
        yield ("n:" if reach else prefix) + word, match.start(), match.end()
        reach = max(0, reach - 1)


NEGATIONS = {"no", "not", "without", "absence", "free", "non", "never", "neither", "nor", "unlike"}
STOPWORDS = set("a an the of in on at to for from by with as is are was were be been this that these those "
                "it its we our their they which who whom than then there here into over after before during "
                "between within also such both each other more most".split())
NEGATION_REACH = 5
CLAUSE_END = re.compile(r"[.;:,!?()]")


class LinearLayer:
    def __init__(self, model: dict, digest: str = ""):
        self.version = f"{model['version']}-{digest[:8]}" if digest else model["version"]
        self.decides: dict[str, list[str]] = model["decides"]
        self.keys = [(task, label) for task, labels in self.decides.items() for label in labels]
        self.bias = [model["models"][task][label]["bias"] for task, label in self.keys]
        self.numbers = {task: [n for n, (t, _) in enumerate(self.keys) if t == task] for task in self.decides}
        # a task the layer decides whole gets at least its best label; a single-label task exactly one
        self.whole = {task for task, labels in self.decides.items() if set(labels) == set(GOLD_LABELS[task])}
        self.weights = [model["models"][task][label]["weights"] for task, label in self.keys]
        self.index: dict[str, list[tuple[int, float]]] = {}
        for number, weights in enumerate(self.weights):
            for feature, weight in weights.items():
                self.index.setdefault(feature, []).append((number, weight))

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> "LinearLayer":
        raw = path.read_bytes()
        return cls(json.loads(raw), hashlib.sha256(raw).hexdigest())

    def decide(self, found: dict[str, tuple | None], texts: dict[str, str] | None = None) -> list[Decision]:
        """The labels the layer gives this record (only among those it decides); `texts`
        (title and abstract by name) lets each decision quote the words behind it."""
        scores = list(self.bias)
        index = self.index
        for feature in found:
            for number, weight in index.get(feature, ()):
                scores[number] += weight
        chosen = []
        for task, numbers in self.numbers.items():
            picked = [n for n in numbers if scores[n] > 0]
            if task in self.whole and (not picked or task in SINGLE_LABEL):
                picked = [max(numbers, key=scores.__getitem__)]
            chosen += picked
        return [self._decision(n, scores[n], found, texts or {}) for n in chosen]

    def _decision(self, number, score, found, texts) -> Decision:
        task, label = self.keys[number]
        weights = self.weights[number]
        ranked = sorted(((weights[f], f) for f in weights.keys() & found.keys() if weights[f] > 0), reverse=True)
        place = next((found[f] for _, f in ranked[:EVIDENCE_WORDS] if found[f] is not None), None)
        spot = None
        if place is not None:
            source, start, end, *matched = place
            spot = Spot(source, matched[0] if matched else texts.get(source, "")[start:end] or None, start, end)
        reasons = tuple((feature, round(weight, 2)) for weight, feature in ranked[:EVIDENCE_WORDS])
        return Decision(task, label, 1 / (1 + math.exp(-max(-30.0, min(30.0, score)))), reasons, spot)


def merge(rule_labels: list[str], layer_labels: list[str], decided: list[str]) -> list[str]:
    """One task's labels: the layer's among those it decides, the rules' for the rest, and the
    rules' alone if that would leave the task with no label at all."""
    merged = [v for v in rule_labels if v not in decided] + [v for v in layer_labels if v in decided]
    return merged or list(rule_labels)
