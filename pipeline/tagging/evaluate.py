"""Scoring tags against human labels: per-label and weighted precision, recall and F1.

"Weighted" follows scikit-learn's `average="weighted"` for multilabel data: each label's score
is weighted by its support (how many records truly carry it); labels nobody carries weigh
nothing. A score comes with the range it takes over resamples of the scored records (the
bootstrap): on a hundred records a weighted F1 is only good to a few hundredths.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy

from kaplit.pipeline.tagging.linear import WEIGHTS
from kaplit.pipeline.tagging.tagger import Tagger
from kaplit.pipeline.tagging.taxonomy import GOLD_LABELS


@dataclass
class Score:
    precision: float
    recall: float
    f1: float
    support: int


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def score_task(gold: list[list[str]], predicted: list[list[str]]) -> tuple[Score, dict[str, Score]]:
    labels = sorted({label for row in gold + predicted for label in row})
    per_label = {}
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, predicted))
        fp = sum(label not in g and label in p for g, p in zip(gold, predicted))
        fn = sum(label in g and label not in p for g, p in zip(gold, predicted))
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        per_label[label] = Score(precision, recall, _ratio(2 * precision * recall, precision + recall), tp + fn)
    total = sum(s.support for s in per_label.values())
    weighted = Score(*(sum(getattr(s, name) * s.support for s in per_label.values()) / total if total else 0.0
                       for name in ("precision", "recall", "f1")), total)
    return weighted, per_label


BOOTSTRAP_ROUNDS = 1000


def resampled_f1(gold: list[list[str]], predicted: list[list[str]], draws) -> numpy.ndarray:
    """score_task's weighted F1 for each draw of records (a row of indices into `gold`), at once."""
    labels = sorted({label for row in gold + predicted for label in row})
    truth, said = _matrix(gold, labels), _matrix(predicted, labels)
    tp, fp, fn = ((truth & said)[draws].sum(axis=1), (~truth & said)[draws].sum(axis=1),
                  (truth & ~said)[draws].sum(axis=1))
    with numpy.errstate(divide="ignore", invalid="ignore"):
        precision = numpy.nan_to_num(tp / (tp + fp))
        recall = numpy.nan_to_num(tp / (tp + fn))
        f1 = numpy.nan_to_num(2 * precision * recall / (precision + recall))
        support = tp + fn
        return numpy.nan_to_num((f1 * support).sum(axis=1) / support.sum(axis=1))


def _matrix(rows: list[list[str]], labels: list[str]) -> numpy.ndarray:
    """One row per record, one column per label: whether the record carries it."""
    return numpy.array([[label in row for label in labels] for row in rows], dtype=bool).reshape(len(rows), len(labels))


def f1_interval(gold: list[list[str]], predicted: list[list[str]], rounds: int = BOOTSTRAP_ROUNDS,
                seed: int = 0) -> tuple[float, float]:
    """The range (2.5th to 97.5th percentile) of the weighted F1 over `rounds` resamples of the
    records, each as many records drawn with replacement; seeded, so the same scores give the
    same range."""
    if not gold:
        return 0.0, 0.0
    draws = numpy.random.default_rng(seed).integers(0, len(gold), size=(rounds, len(gold)))
    low, high = numpy.percentile(resampled_f1(gold, predicted, draws), [2.5, 97.5])
    return float(low), float(high)


class GoldError(ValueError):
    """A gold file that cannot be scored or trained on; the message names the file and line."""


def load_gold(path) -> list[dict]:
    """The records of a gold file (JSON lines, optionally gzipped, like ../shared/gold/dev.jsonl.gz),
    each checked: an object whose `labels` map tasks of labelsets.json to lists of their labels,
    spelled as there (a misspelt label would otherwise score as a wrong one)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return [_gold_row(line, f"{path} line {number}")
                    for number, line in enumerate(handle, start=1) if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise GoldError(f"{path}: cannot be read ({error})") from None


def indexing_by_pmid(folder) -> dict[str, dict]:
    """PMID → {"mesh": [descriptor, ...], "keywords": [...]} of every record under a folder of
    PubMed XML or MEDLINE files (the snapshot in ../shared) that carries either."""
    from kaplit.pipeline.parse.record import Article
    from kaplit.pipeline.parse.sources import discover, read_records

    found = {}
    for path in discover([folder]):
        for record in read_records(path):
            if isinstance(record, Article) and (record.mesh or record.keywords):
                found[str(record.pmid)] = {"mesh": [row["descriptor"] for row in record.mesh],
                                           "keywords": [row["keyword"] for row in record.keywords]}
    return found


def with_indexing(rows: list[dict], indexing: dict[str, dict]) -> list[dict]:
    """The gold rows, each lent the MeSH headings and keywords `indexing` has for its PMID where
    it carries none of its own: what the tagger sees of the record in production."""
    return [{**indexing[str(row["pmid"])], **row} if str(row.get("pmid")) in indexing and not (
        row.get("mesh") or row.get("keywords")) else row for row in rows]


def tag_row(tagger: Tagger, row: dict):
    """A gold row tagged as production tags its record: title, abstract, publication types, MeSH
    headings and keywords."""
    return tagger.tag_record(row.get("title"), row.get("abstract"), row.get("publication_types") or (),
                             row.get("mesh") or (), row.get("keywords") or ())


def _gold_row(line: str, where: str) -> dict:
    try:
        row = json.loads(line)
    except ValueError as error:
        raise GoldError(f"{where}: not JSON ({error})") from None
    if not isinstance(row, dict) or not isinstance(row.get("labels"), dict):
        raise GoldError(f"{where}: not a JSON object with title, abstract and labels")
    for task, labels in row["labels"].items():
        if task not in GOLD_LABELS:
            raise GoldError(f"{where}: {task!r} is no task of labelsets.json ({', '.join(GOLD_LABELS)})")
        if not isinstance(labels, list):
            raise GoldError(f"{where}: the {task} labels are not a list")
        unknown = [label for label in labels if label not in GOLD_LABELS[task]]
        if unknown:
            raise GoldError(f"{where}: {unknown[0]!r} is no {task} label of labelsets.json")
    return row


def evaluate_file(path, indexing: dict | None = None) -> dict:
    """task → (weighted Score, per-label Scores, records scored, the weighted F1's bootstrap range)
    over the gold file's records that carry labels for that task, each with the MeSH headings and
    keywords `indexing` lends it (with_indexing)."""
    rows = with_indexing(load_gold(path), indexing or {})
    tagger = Tagger()
    predicted = [tag_row(tagger, row).labels for row in rows]
    results = {}
    for task in GOLD_LABELS:
        scored = [i for i, r in enumerate(rows) if r.get("labels", {}).get(task)]
        gold, said = [rows[i]["labels"][task] for i in scored], [predicted[i][task] for i in scored]
        weighted, labels = score_task(gold, said)
        results[task] = (weighted, labels, len(scored), f1_interval(gold, said))
    return results


def trained_on(path) -> bool:
    """Whether the shipped linear layer was fitted on this very file."""
    if not WEIGHTS.exists():
        return False
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return json.loads(WEIGHTS.read_text(encoding="utf-8"))["trained_on"]["sha256"] == digest
