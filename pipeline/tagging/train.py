"""Training the linear layer (pipeline/tagging/linear.py) from human labels, reproducibly.

    kaplit train --gold ../shared/gold/dev.jsonl.gz      # writes pipeline/tagging/weights/linear.json

For every label of every task, an L1-regularised logistic regression (scikit-learn's liblinear:
deterministic, sparse) is fitted on the features of pipeline/tagging/linear.py, each feature first scaled
by its Naive Bayes log-count ratio for the label (NAIVE_BAYES). A k-fold
cross-validation on the same file then compares, label by label, the layer's decisions with the
rules' alone; the layer keeps only the labels where it scored higher (or, where that scores
higher still, all of a task's labels with at least one given each record), and the file records
those choices and the cross-validated F1 of the combined tagger, counted as the tagger decides
(the shipped weights have seen every record of the gold file), and from which probability an RCT
or a systematic review is certain enough to list (certain_designs). Nested cross-validation
(nested_scores) then makes all of those choices again without the records it scores: the honest
estimate, printed beside the plain one. The settings below it does not choose: they are a
protocol fixed before the run (docs/tagger-experiments.md says what each was compared with).
scikit-learn is needed here only, not for tagging.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from kaplit.pipeline.tagging import indexed
from kaplit.pipeline.tagging.evaluate import f1_interval, load_gold, score_task, tag_row, with_indexing
from kaplit.pipeline.tagging.linear import SET_PRIOR, SINGLE_LABEL, LinearLayer, features, title_feature, with_named
from kaplit.pipeline.tagging.tagger import (
    Tagger,
    combined_labels,
    contradicted,
    linear_tag,
    rule_labels,
    with_decisions,
)
from kaplit.pipeline.tagging.taxonomy import CERTAIN_DESIGNS, GOLD_LABELS, TASK_FACET

VERSION = "linear-1"
# The settings below were chosen by cross-validation on the dev file; docs/tagger-experiments.md
# keeps what each was compared with and what it gave.
C = 1.0  # inverse regularisation strength
RULE_SCALE = 2.0  # rule features count double: they are fewer and sharper than single words
FOLDS = 5
OUTER_FOLDS, OUTER_SEED = 5, 20  # nested cross-validation's outer split (nested_scores)
MARGIN = 0.005  # the layer takes a label over from the rules only if it scores this much higher
PRECISION_GOAL = 0.95  # of the designs a list presents as fact (certain_designs)
# rare labels (anxiety, alcoholism, case reports, ...) weigh as much in training as common ones
BALANCED = {"condition", "study_type", "application_form", "substances", "age_of_participants",
            "clinical_trial_phase"}
STEMMED = {"study_type", "number_of_participants"}  # words weigh by their stems too (linear.STEM)
# tasks whose models weigh MeSH headings and keywords (linear.indexing_features) beside the words
INDEXED = {"application_form", "age_of_participants", "clinical_trial_phase"}
INDEXING_KINDS = ("m:", "k:")
# features count by their Naive Bayes log-count ratio in the logistic fit ("NBSVM", Wang & Manning
# 2012), with this C; the ratio is folded into the weights, so tagging is unchanged
NAIVE_BAYES = set(GOLD_LABELS) - {"number_of_participants"}
NB_C = 0.3
NB_C_TASK = {"study_type": 0.7}  # the design's Naive Bayes-scaled model, fitted less tightly
# weights are the mean of the Naive Bayes-scaled model and a plain one (still one linear model)
MIXED = {"condition"}
# labels chosen as a set among those the annotators used together (linear.LabelSets)
LABEL_SETS = {"condition"}


def rule_view(rows):
    """Per record: the rules' tags, its features and the rules' own labels (the baseline the
    layer must beat)."""
    rules = Tagger(linear=False)
    tags, found, labels = [], [], []
    for row in rows:
        title, abstract = row.get("title") or "", row.get("abstract") or ""
        mesh, keywords = row.get("mesh") or (), row.get("keywords") or ()
        record_tags = rules.tag(title, abstract, row.get("publication_types") or (), mesh, keywords)
        text_tags = [t for t in record_tags if t.source not in indexed.SOURCES]  # as Tagger.tag weighs them
        tags.append(record_tags)
        found.append(features(title, abstract, text_tags, rule_labels(text_tags), mesh=mesh, keywords=keywords)[0])
        labels.append(rule_labels(record_tags))
    return tags, found, labels


def fit(found: list[dict], rows: list[dict], tasks=GOLD_LABELS) -> dict:
    """{task: {label: {"bias", "weights"}}} fitted on these records (those labelled for the task)."""
    import numpy as np
    from sklearn.feature_extraction import DictVectorizer

    models = {}
    for task, labels in tasks.items():
        scored, _ = _gold(rows, task)
        vectorizer = DictVectorizer()
        stems = task in STEMMED
        indexing = task in INDEXED
        matrix = vectorizer.fit_transform([{f: _value(f) for f in found[i] if (stems or f[1] != "*") and (
            indexing or f[:2] not in INDEXING_KINDS)} for i in scored]).tocsr()
        matrix.indices, matrix.indptr = matrix.indices.astype(np.int32), matrix.indptr.astype(np.int32)
        names = vectorizer.get_feature_names_out()
        models[task] = {}
        for label in labels:
            target = np.array([label in rows[i]["labels"][task] for i in scored])
            if target.all() or not target.any():  # nothing to learn: a constant
                models[task][label] = {"bias": 30.0 if target.all() else -30.0, "weights": {}}
                continue
            bias, weighed = _fit_label(matrix, target, task)
            weights = {str(names[j]): round(float(w) * _value(names[j]), 4)
                       for j, w in enumerate(weighed) if round(float(w), 4)}
            models[task][label] = {"bias": round(bias, 4), "weights": weights}
    return models


def _fit_label(matrix, target, task):
    """One label's bias and weights (per column of the matrix): Naive Bayes-scaled for the tasks of
    NAIVE_BAYES, and for those of MIXED the mean of that model and a plain one."""
    import numpy as np
    from scipy.sparse import diags
    from sklearn.linear_model import LogisticRegression

    def logistic(scale, strength):
        model = LogisticRegression(C=strength, l1_ratio=1.0, solver="liblinear", max_iter=5000, random_state=0,
                                   class_weight="balanced" if task in BALANCED else None)
        model.fit(matrix @ diags(scale), target)
        return float(model.intercept_[0]), model.coef_[0] * scale

    plain = np.ones(matrix.shape[1])
    if task not in NAIVE_BAYES:
        return logistic(plain, C)
    bias, weights = logistic(_ratios(matrix, target), NB_C_TASK.get(task, NB_C))
    if task in MIXED:
        other_bias, other = logistic(plain, C)
        bias, weights = (bias + other_bias) / 2, (weights + other) / 2
    return bias, weights


def _ratios(matrix, target):
    """Per feature, the log ratio of its share among the label's records and among the others
    (add-one smoothed): the Naive Bayes weight a feature gets before the logistic fit."""
    import numpy as np

    present = (matrix > 0).astype(float)
    among = 1 + np.asarray(present[target].sum(axis=0)).ravel()
    others = 1 + np.asarray(present[~target].sum(axis=0)).ravel()
    return np.log((among / among.sum()) / (others / others.sum()))


def _value(feature: str) -> float:
    return RULE_SCALE if feature[:2] in ("r:", "L:") else 1.0


def fold_models(rows, found, folds=FOLDS) -> list[tuple[list[int], dict]]:
    """Per fold of a k-fold split: the records held out, and models for every label fitted on the rest."""
    out = []
    for fold in range(folds):
        held = [i for i in range(len(rows)) if i % folds == fold]
        train = [i for i in range(len(rows)) if i % folds != fold]
        out.append((held, fit([found[i] for i in train], [rows[i] for i in train])))
    return out


def held_out_decisions(rows, found, folds, choices) -> list[list]:
    """The layer's decisions for every record, each made by the models of the fold that held it
    out, deciding as `choices` say ({"decides", "whole", "sets"}) as the shipped layer would."""
    predicted: list[list] = [[] for _ in rows]
    for held, models in folds:
        seen = set(held)
        layer = LinearLayer(layer_model([row for i, row in enumerate(rows) if i not in seen], choices, models))
        for i in held:
            predicted[i] = layer.decide(found[i])
    return predicted


def labels_of(decisions) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for decision in decisions:
        labels.setdefault(decision.task, []).append(decision.label)
    return labels


def layer_model(rows, choices, models) -> dict:
    """What LinearLayer reads, for a layer trained on these rows: the choices, the label sets of
    the tasks decided as sets (counted on these rows) and the models."""
    return {"version": VERSION, "decides": choices["decides"], "whole": sorted(choices["whole"]),
            "label_sets": label_sets(rows, choices["decides"], choices["sets"]),
            "from_title": choices.get("from_title", {}), "models": models}


def label_sets(rows, decides, tasks) -> dict:
    """{task: [{"labels", "records"}, ...]}: each set of the labels the layer decides that the
    annotators gave records together, and on how many records, most frequent first."""
    out = {}
    for task in sorted(tasks):
        counted = Counter(tuple(label for label in decides[task] if label in labels) for labels in _gold(rows, task)[1])
        out[task] = [{"labels": list(labels), "records": n} for labels, n in counted.most_common()]
    return out


def choose(rows, layer_labels, baseline) -> dict:
    """Which labels the layer decides: those where its held-out F1 beats the rules'."""
    decides = {}
    for task in GOLD_LABELS:
        scored, gold = _gold(rows, task)
        layer_total, by_layer = score_task(gold, [layer_labels[i].get(task, []) for i in scored])
        rules_total, by_rules = score_task(gold, [baseline[i][task] for i in scored])
        if task in SINGLE_LABEL:  # one label each: the layer picks among all of them, or none
            taken = list(GOLD_LABELS[task]) if layer_total.f1 > rules_total.f1 + MARGIN else []
        else:
            rule_f1 = {label: score.f1 for label, score in by_rules.items()}
            taken = [label for label in GOLD_LABELS[task]
                     if label in by_layer and by_layer[label].f1 > rule_f1.get(label, 0.0) + MARGIN]
        if taken:
            decides[task] = taken
    return decides


def _gold(rows, task) -> tuple[list[int], list[list[str]]]:
    """The records labelled for a task, and their labels."""
    scored = [i for i, row in enumerate(rows) if row["labels"].get(task)]
    return scored, [rows[i]["labels"][task] for i in scored]


def shipped_labels(tags, decisions, decides) -> list[dict]:
    """Each record's labels as the tagger with these choices gives them, the layer's decisions
    being held-out ones: the tagger's own steps (Tagger.tag: linear_tag, with_decisions; Tagger.labels:
    combined_labels) on the rules' tags and the decisions of the labels the layer decides."""
    decided = {(TASK_FACET[task], label) for task, labels in decides.items() for label in labels}
    return [combined_labels(with_decisions(record_tags, [linear_tag(d) for d in record_decisions
                                                         if d.label in decides.get(d.task, ())], decided), decides)
            for record_tags, record_decisions in zip(tags, decisions)]


def held_out_scores(rows, baseline, final) -> tuple[dict, dict]:
    """Per task, the cross-validated weighted F1 of the rules alone and of the shipped tagger (with
    its bootstrap range over the records, pipeline/evaluate.f1_interval);
    and per task and label the shipped tagger's held-out precision, recall and F1, and how many
    records the annotators gave the label (support): how far a clinician can trust one tag."""
    weighted, per_label = {}, {}
    for task in GOLD_LABELS:
        scored, gold = _gold(rows, task)
        said = [final[i][task] for i in scored]
        total, by_label = score_task(gold, said)
        weighted[task] = {"rules": round(task_f1(rows, task, baseline), 4), "combined": round(total.f1, 4),
                          "combined_95": [round(bound, 4) for bound in f1_interval(gold, said)]}
        per_label[task] = {label: {"precision": round(s.precision, 3), "recall": round(s.recall, 3),
                                   "f1": round(s.f1, 3), "support": s.support} for label, s in by_label.items()}
    return weighted, per_label


def train(gold_path, indexing: dict | None = None, nested: bool = True) -> dict:
    """The whole model file: weights fitted on every gold record, choices and scores from CV.
    `indexing` (evaluate.indexing_by_pmid) lends records the MeSH headings and keywords of
    their PubMed records. With `nested`, also the nested cross-validated F1 (nested_scores)."""
    rows = with_indexing(load_gold(gold_path), indexing or {})
    model = fitted(rows)
    model["trained_on"] = {"file": Path(gold_path).name, "records": len(rows),
                           "sha256": hashlib.sha256(Path(gold_path).read_bytes()).hexdigest(),
                           "with_mesh_or_keywords": sum(bool(row.get("mesh") or row.get("keywords")) for row in rows)}
    if nested:
        nested_result = nested_scores(rows)
        model["nested_cross_validated_weighted_f1"] = nested_result["weighted_f1"]
        model["nested_certain_designs"] = nested_result["certain_designs"]
    return model


def fitted(rows) -> dict:
    """The layer trained on these rows: every choice made by cross-validation on them, the weights
    fitted on all of them, and the cross-validated scores of the tagger so chosen."""
    tags, found, labels = rule_view(rows)
    folds = fold_models(rows, found)
    decisions = held_out_decisions(rows, found, folds, {
        "decides": {task: list(names) for task, names in GOLD_LABELS.items()}, "whole": set(GOLD_LABELS), "sets": ()})
    layer_labels = [labels_of(record) for record in decisions]
    decides = choose(rows, layer_labels, labels)
    if "study_type" in decides:  # the rules' defaults follow the design: weigh them with the layer's design in place
        with_design = shipped_labels(tags, decisions, {"study_type": decides["study_type"]})
        decides = {**choose(rows, layer_labels, with_design), "study_type": decides["study_type"]}
    choices = refine(rows, tags, found, folds, decides)
    choices["from_title"] = from_title(rows, found, shipped(rows, tags, found, folds, choices), choices["decides"])
    decides = choices["decides"]
    decisions = held_out_decisions(rows, found, folds, choices)
    final = shipped_labels(tags, decisions, decides)
    weighted, per_label = held_out_scores(rows, labels, final)
    certain = certain_designs(rows, tags, decisions, final)
    return {
        **layer_model(rows, choices, fit(found, rows, decides)),
        "certain_designs": {design: chosen["threshold"] for design, chosen in certain.items()},
        "cross_validated_certain_designs": certain,
        "settings": {"C": C, "penalty": "l1", "solver": "liblinear", "rule_scale": RULE_SCALE,
                     "folds": FOLDS, "margin": MARGIN, "balanced": sorted(BALANCED),
                     "stemmed": sorted(STEMMED), "naive_bayes": sorted(NAIVE_BAYES), "nb_c": NB_C,
                     "nb_c_task": NB_C_TASK, "mixed": sorted(MIXED), "label_sets": sorted(LABEL_SETS),
                     "set_prior": SET_PRIOR, "indexed": sorted(INDEXED), "precision_goal": PRECISION_GOAL,
                     "outer_folds": OUTER_FOLDS, "outer_seed": OUTER_SEED},
        "cross_validated_weighted_f1": weighted,
        "cross_validated_labels": per_label,
    }


def certain_designs(rows, tags, decisions, final) -> dict:
    """For each design of CERTAIN_DESIGNS, the lowest probability of the layer's design from which
    the held-out designs it gives are right at least PRECISION_GOAL of the time, counting down
    from the surest, among those the record does not contradict (tagger.contradicted: never
    listed): {design: {"threshold", "precision", "given", "held_back"}}. A design that never
    reaches the goal gets a threshold above every probability (1.0): none is certain."""
    chosen = {}
    for design in CERTAIN_DESIGNS:
        given = sorted(((0.0 if contradicted(design, row.get("title"), tags[i]) else
                         _design_probability(decisions[i], design), design in row["labels"]["study_type"])
                        for i, row in enumerate(rows) if row["labels"].get("study_type")
                        and final[i]["study_type"][:1] == [design]), reverse=True)
        threshold, right, listed = 1.0, 0, 0
        for count, (probability, correct) in enumerate(given, start=1):
            right += correct
            if probability > 0 and right / count >= PRECISION_GOAL:
                threshold, listed = probability, count
        precision = sum(correct for _, correct in given[:listed]) / listed if listed else 0.0
        chosen[design] = {"threshold": round(threshold, 4), "precision": round(precision, 3),
                          "given": len(given), "held_back": len(given) - listed}
    return chosen


def _design_probability(decisions, design) -> float:
    return next((d.probability for d in decisions if d.task == "study_type" and d.label == design), 0.0)


def outer_folds(count: int, folds: int = OUTER_FOLDS) -> list[list[int]]:
    """The records of each outer fold: a seeded shuffle dealt into `folds` parts, so that the outer
    split is not the inner one (fold_models deals records by their position)."""
    order = random.Random(OUTER_SEED).sample(range(count), count)
    return [sorted(order[k::folds]) for k in range(folds)]


def nested_scores(rows, folds: int = OUTER_FOLDS, workers: int = 2) -> dict:
    """Per task, the weighted F1 of nested cross-validation: for each outer fold, the whole of
    training (fitted: every choice of labels, label sets and titles, and the weights) runs on the
    other records, and the real Tagger with that layer tags the fold's records, MeSH and keywords
    included. Unlike the plain figure, no choice has seen the records it is scored on. The outer
    folds are fitted in `workers` processes."""
    held = outer_folds(len(rows), folds)
    training = [[row for i, row in enumerate(rows) if i not in kept] for kept in map(set, held)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        layers = list(pool.map(fitted, training))
    tagged = [None] * len(rows)
    for part, layer in zip(held, layers):
        tagger = Tagger(linear=LinearLayer(layer))
        for i in part:
            tagged[i] = tag_row(tagger, rows[i])
    predicted = [record.labels for record in tagged]
    return {"weighted_f1": {task: round(task_f1(rows, task, predicted), 4) for task in GOLD_LABELS},
            "certain_designs": listed_designs(rows, tagged)}


def listed_designs(rows, tagged) -> dict:
    """For each design of CERTAIN_DESIGNS, among the annotated records the tagger gave it: how many
    it lists as certain, their precision, and how many it holds back."""
    out = {}
    for design in CERTAIN_DESIGNS:
        given = [(record.design_certain, design in row["labels"]["study_type"]) for row, record in zip(rows, tagged)
                 if row["labels"].get("study_type") and record.labels["study_type"][:1] == [design]]
        listed = [correct for certain, correct in given if certain]
        out[design] = {"listed": len(listed), "precision": round(sum(listed) / len(listed), 3) if listed else 0.0,
                       "held_back": len(given) - len(listed),
                       "precision_of_all": round(sum(c for _, c in given) / len(given), 3) if given else 0.0}
    return out


def refine(rows, tags, found, folds, decides) -> dict:
    """How the layer decides each task: a single-label task choose() gave it, whole (its best
    label each record); a task of LABEL_SETS, all the labels the annotators used, as a label set
    (LabelSets); any other task with several labels a record, the labels choose() picked where
    they score above zero, or all the labels the annotators used, at least the best one each
    record, where cross-validation with the tagger's own behaviour scores that higher by the
    margin. Returns the choices ({"decides", "whole", "sets"})."""
    choices = {"decides": decides, "whole": {task for task in decides if task in SINGLE_LABEL}, "sets": set()}
    for task in [task for task in decides if task not in SINGLE_LABEL]:
        used = [label for label in GOLD_LABELS[task] if any(label in labels for labels in _gold(rows, task)[1])]
        whole = {"decides": {**choices["decides"], task: used}, "whole": choices["whole"] | {task},
                 "sets": choices["sets"] | ({task} & LABEL_SETS)}
        if task in LABEL_SETS or task_f1(rows, task, shipped(rows, tags, found, folds, whole)) > task_f1(
                rows, task, shipped(rows, tags, found, folds, choices)) + MARGIN:
            choices = whole
    return choices


def from_title(rows, found, held_out, decides) -> dict:
    """{task: [label, ...]}: the layer's labels that a rule's hit in the title gives whatever the
    scores (for a design: instead of the best-scoring one), where that raises the label's held-out
    F1 by the margin and the task's weighted F1: a label too rare for the layer to learn
    ("Anorexia", 2 records), or one the annotators give whenever the title names it. Each label
    is tried alone on the held-out labels `held_out`, as LinearLayer.decide would change them."""
    chosen = {}
    for task, labels in decides.items():
        scored, gold = _gold(rows, task)
        before, before_labels = score_task(gold, [held_out[i][task] for i in scored])
        for label in labels:
            feature = title_feature(task, label)
            named = [with_named(held_out[i][task], [label], task) if feature in found[i] else held_out[i][task]
                     for i in scored]
            after, after_labels = score_task(gold, named)
            old = before_labels[label].f1 if label in before_labels else 0.0
            if after.f1 > before.f1 and label in after_labels and after_labels[label].f1 > old + MARGIN:
                chosen.setdefault(task, []).append(label)
    return chosen


def shipped(rows, tags, found, folds, choices) -> list[dict]:
    """Every record's labels as the tagger deciding as `choices` say gives them, held out."""
    return shipped_labels(tags, held_out_decisions(rows, found, folds, choices), choices["decides"])


def task_f1(rows, task, labels) -> float:
    scored, gold = _gold(rows, task)
    return score_task(gold, [labels[i][task] for i in scored])[0].f1
