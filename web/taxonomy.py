"""What the taxonomy page shows: every facet and its values, the evidence levels, how the
tagger decides each label (rules, or the linear layer with its cross-validated scores), and how
to read the features a linear tag names.

The tagger described is the one that tagged the served database: its `tagger` table (written at
every re-tag), not whatever tagger is installed beside the server."""

from __future__ import annotations

import json

from kaplit.pipeline.tagging.linear import FEATURE_KINDS
from kaplit.pipeline.tagging.taxonomy import DETAILS, EVIDENCE_LEVEL, FACETS, GOLD_LABELS, TASK_FACET

TAGGER_SQL = ("select version, model from tagger where version in (select distinct tagger_version from studies) "
              "order by tagged_at desc limit 1")


async def served_tagger(database) -> tuple[str | None, dict]:
    """(version, model description) of the tagger that tagged the served studies."""
    return await database.kept("tagger", lambda: _tagger(database))


async def _tagger(database) -> tuple[str | None, dict]:
    rows = (await database.execute(TAGGER_SQL)).rows
    return (rows[0]["version"], json.loads(rows[0]["model"])) if rows else (None, {})


def held_out_precision(model: dict) -> dict[tuple[str, str], float]:
    """(facet, value) → the share of the abstracts given that label, held out, that the annotators
    gave it too: for the labels the annotators used."""
    return {(TASK_FACET[task], label): scores["precision"]
            for task, labels in model.get("cross_validated_labels", {}).items()
            for label, scores in labels.items() if scores["support"]}


def taxonomy_context(version: str | None, model: dict) -> dict:
    decides, from_title = model.get("decides", {}), model.get("from_title", {})
    scores = model.get("cross_validated_weighted_f1", {})
    nested = model.get("nested_cross_validated_weighted_f1", {})
    certain = [{"design": design, "threshold": model["certain_designs"][design], **listed}
               for design, listed in model.get("nested_certain_designs", {}).items()]
    label_scores = model.get("cross_validated_labels", {})
    facet_task = {facet: task for task, facet in TASK_FACET.items()}
    facets = []
    for facet, description in FACETS.items():
        task = facet_task.get(facet)
        labels = [{"name": label, "by": _decided_by(label, decides.get(task, ()), from_title.get(task, ())),
                   "held_out": label_scores.get(task, {}).get(label)}
                  for label in GOLD_LABELS.get(task, ())]
        facets.append({"facet": facet, "description": description, "task": task, "labels": labels,
                       "details": DETAILS.get(facet, []), "scores": scores.get(task), "nested": nested.get(task),
                       "certain": certain if task == "study_type" else []})
    levels = sorted((level, design) for design, level in EVIDENCE_LEVEL.items() if level)
    return {"facets": facets, "levels": levels, "tagger_version": version or "unknown",
            "trained_on": model.get("trained_on"), "feature_kinds": list(FEATURE_KINDS.values())}


def _decided_by(label, decided, named_in_title) -> str:
    if label in named_in_title:
        return "linear layer, or the title naming it"
    return "linear layer" if label in decided else "rules"
