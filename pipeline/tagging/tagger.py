"""Explainable study tags: every tag carries the words that triggered it and where they are.

Rules read the title, the abstract, MeSH headings and publication types. A word in the abstract
does not count when a negation stands just before it ("patients without PTSD", "no history of
alcohol use disorder") or when it sits in the exclusion criteria. Facets that the text leaves
open get an explicit "Unknown" / "Not applicable" derived from the design, as the human
annotation does. On top of the rules, the linear layer (pipeline/tagging/linear.py) decides the labels it
was shown, by cross-validation, to get right more often than the rules alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import partial
from itertools import islice

from kaplit.pipeline.tagging import counts, indexed
from kaplit.pipeline.tagging.anchors import near
from kaplit.pipeline.tagging.linear import WEIGHTS, Decision, LinearLayer, features
from kaplit.pipeline.tagging.rules import (
    ANCHORS,
    COUNT,
    CUES,
    GIVEN,
    KAP,
    NARRATIVE,
    NEGATION,
    NOT_THE_DESIGN,
    NOTICE,
    NOTICE_TITLE,
    PUBLICATION_TYPE_RULES,
    REVIEW,
    TEXT_RULES,
    TWICE,
)
from kaplit.pipeline.tagging.taxonomy import (
    CERTAIN_DESIGNS,
    COUNT_FACET,
    DETAIL_VALUES,
    DETAILS,
    EVIDENCE_LEVEL,
    GOLD_LABELS,
    TASK_FACET,
    StudyColumn,
)

VERSION = "rules-11"
LINEAR = "linear:"  # rule ids of the linear layer's tags start so
TRIAL_DETAILS = ("Open-label/single-arm", "Controlled non-randomised")


# Tag, Decision and Spot are not frozen: a frozen dataclass is built through object.__setattr__,
# 1.4 us against 0.23 us, and tagging a record makes some forty of them (bench/tag.py: ~8 %).
@dataclass(slots=True)
class Tag:
    facet: str
    value: str
    source: str  # title / abstract / mesh / publication_type / derived
    matched: str | None = None
    start: int | None = None
    end: int | None = None
    rule: str = ""
    probability: float | None = None  # a linear tag's: how sure the layer is


KETAMINE_FORMS = frozenset({"Ketamine", "S-Ketamine", "R-Ketamine"})
LABEL_FACETS = {facet: task for task, facet in TASK_FACET.items()}


@dataclass(frozen=True, slots=True)
class TaggedRecord:
    """What the tagger says of one record: its tags as stored (with the derived ones) and the
    gold-style labels, with what follows from them for browsing."""

    tags: list[Tag]
    labels: dict[str, list[str]]
    # 1 when the design (an RCT, a systematic review) is certain enough to list as one, 0 when it
    # is not, None for the other designs (Tagger.design_certain)
    design_certain: int | None = None

    def first(self, task: str) -> str | None:
        return (self.labels[task] or [None])[0]

    @property
    def evidence_level(self) -> int | None:
        return next((int(t.value) for t in self.tags if t.facet == "evidence_level"), None)

    @property
    def participant_count(self) -> int | None:
        return next((int(t.value) for t in self.tags if t.facet == COUNT_FACET), None)

    @property
    def participants(self) -> str | None:
        """The range of the count the abstract gives, where it gives one, so that a study's range
        and count never disagree; else the label ("Not applicable", a review's pooled count,
        stays). The label itself stays the annotation's (`labels`): the layer learnt it so."""
        chosen = self.first("number_of_participants")
        count = self.participant_count
        return counts.binned(count) if count is not None and chosen != "Not applicable" else chosen

    @property
    def psychotherapy(self) -> bool:
        """Psychotherapy or psychological support is part of the treatment, with any substance."""
        return any(t.facet == "kap" for t in self.tags)

    @property
    def ketamine(self) -> bool:
        """About any form of ketamine: racemic, esketamine or arketamine."""
        return bool(KETAMINE_FORMS & set(self.labels["substances"]))

    @property
    def kap(self) -> bool:
        """Ketamine-assisted psychotherapy: psychotherapy with a form of ketamine."""
        return self.psychotherapy and self.ketamine

    @property
    def details(self) -> list[str]:
        """The finer values (pipeline.tagging.taxonomy.DETAILS), in taxonomy order."""
        present = {t.value for t in self.tags if t.value in DETAIL_VALUES}
        return [v for values in DETAILS.values() for v in values if v in present]

    def column(self, column: StudyColumn):
        """The value of a `studies` column the tagger fills (a JSON list for a list)."""
        if column.task:
            value = self.labels[column.task] if column.as_list else self.first(column.task)
        else:
            value = getattr(self, column.attribute)
        if isinstance(value, bool):
            return int(value)
        return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else value

    def is_final(self, tag: Tag) -> bool:
        """False for a candidate the labels overruled (a rule's or MeSH's value the linear layer
        decided against)."""
        task = LABEL_FACETS.get(tag.facet)
        return task is None or tag.value in DETAIL_VALUES or tag.value in self.labels[task]


class Tagger:
    """Rules first; then, unless `linear` is False, the linear layer (pipeline/tagging/linear.py) decides
    the labels it was trained to decide better, and its tags replace the rules' for those."""

    def __init__(self, linear: bool | LinearLayer = True):
        """`linear`: True for the shipped layer, False for the rules alone, or a layer of one's
        own (cross-validation's, say)."""
        if isinstance(linear, LinearLayer):
            self.linear = linear
        else:
            self.linear = LinearLayer.load() if linear and WEIGHTS.exists() else None
        self.version = f"{VERSION}+{self.linear.version}" if self.linear else VERSION
        decides = self.linear.decides if self.linear else {}
        self.decided = {(TASK_FACET[task], label) for task, labels in decides.items() for label in labels}

    def tag(self, title: str | None, abstract: str | None, publication_types=(), mesh=(), keywords=()) -> list[Tag]:
        """Every tag of a record. `mesh` and `keywords` are MeSH descriptor names and author
        keywords: they add tags of their own, and the linear layer weighs them beside the words
        (a new record carries no MeSH for months: it is decided from its text)."""
        tags, texts = self._rule_pass(title, abstract, publication_types, mesh, keywords)
        if not self.linear:
            return tags
        text_tags = [t for t in tags if t.source not in indexed.SOURCES]
        read = {source: (lowered, [start for start, *_ in spots.get(CUES, ())])
                for source, _, lowered, spots in texts if spots is not None}
        found, views = features(title or "", abstract or "", text_tags, rule_labels(text_tags), self.linear.vocabulary,
                                read, mesh, keywords)
        decisions, decided = self.linear.decide(found, views), self.decided
        if not (abstract or "").strip() and any(t.facet == "study_design" and t.value in GOLD_SETS["study_type"]
                                                for t in text_tags):
            # a title alone is not what the layer learnt from (every gold record has an abstract):
            # the design it names ("...: a randomized controlled trial") stands
            decisions = [d for d in decisions if d.task != "study_type"]
            decided = {pair for pair in decided if pair[0] != "study_design"}
        return with_decisions(tags, [linear_tag(d) for d in decisions], decided)

    def tag_record(self, title: str | None, abstract: str | None, publication_types=(), mesh=(),
                   keywords=()) -> TaggedRecord:
        """The one entry point for a record: its stored tags and its labels."""
        tags = self.tag(title, abstract, publication_types, mesh, keywords)
        labels = self.labels(tags)
        return TaggedRecord(self.stored_tags(tags, labels), labels, self.design_certain(title, tags, labels))

    def design_certain(self, title: str | None, tags: list[Tag], labels: dict) -> int | None:
        """Whether a record's design is one a list may present as fact: for the designs of
        CERTAIN_DESIGNS, 1 when a publication type agrees, or when the layer gave the design with
        at least the probability at which its cross-validated precision reaches the goal
        (train.certain_designs chose the thresholds), unless the record says it is something else:
        its title (NOT_THE_DESIGN), a review that calls itself narrative, a study of animals.
        None for the other designs: no claim either way."""
        design = (labels["study_type"] or [None])[0]
        if design not in CERTAIN_DESIGNS:
            return None
        if any(t.source == "publication_type" and t.facet == "study_design" and t.value == design for t in tags):
            return 1
        if contradicted(design, title, tags):
            return 0
        threshold = self.linear.certain.get(design) if self.linear else None
        probability = next((t.probability for t in tags if t.facet == "study_design" and t.value == design
                            and t.probability is not None), None)
        return int(threshold is not None and probability is not None and probability >= threshold)

    def rule_tags(self, title: str | None, abstract: str | None, publication_types=(), mesh=(), keywords=()
                  ) -> list[Tag]:
        return self._rule_pass(title, abstract, publication_types, mesh, keywords)[0]

    def _rule_pass(self, title, abstract, publication_types, mesh, keywords) -> tuple[list[Tag], list[tuple]]:
        """The rules' tags, and per source field its text, lower-case text and anchor spots."""
        tags: list[Tag] = []
        texts = [(source, text, text.lower())
                 for source, text in (("title", title or ""), ("abstract", abstract or ""))]
        texts = [(source, text, lowered, ANCHORS.spots(lowered) if len(lowered) == len(text) else None)
                 for source, text, lowered in texts]  # (case folding that moves offsets: no shortcut)
        candidates = sorted(ANCHORS.always.union(*(range(COUNT) if spots is None else spots for *_, spots in texts))
                            - {COUNT, CUES})
        for index in candidates:
            facet, value, pattern, anchors = TEXT_RULES[index]
            for source, text, lowered, spots in texts:
                if anchors is None or spots is None:
                    matches = pattern.finditer(text)
                elif index in spots:
                    matches = near(pattern, text, lowered, spots[index])
                else:
                    continue
                wanted = 2 if source == "abstract" and index in TWICE else 1
                if source == "abstract" and index == KAP:
                    matches = filter(partial(_in_intervention, text), matches)
                found = list(islice((m for m in matches if source == "title" or not _negated(text, m)), wanted))
                if len(found) == wanted:
                    match = found[0]
                    tags.append(Tag(facet, value, source, match.group(0), match.start(), match.end(),
                                    f"{facet}:{value}"))
                    break
        tags += _notice(title or "")
        for name in publication_types:
            if name in PUBLICATION_TYPE_RULES:
                facet, value = PUBLICATION_TYPE_RULES[name]
                tags.append(Tag(facet, value, "publication_type", name, rule=f"pubtype:{name}"))
        tags += _participants(*texts[1][1:])
        for source, terms in (("mesh", mesh), ("keyword", keywords)):
            tags += [Tag(facet, value, source, term, rule=f"{source}:{term}")
                     for term in terms for facet, value in indexed.lookup(term)]
        return _details(_title_routes(_unique(tags))), texts

    def labels(self, tags: list[Tag]) -> dict[str, list[str]]:
        """The gold tasks' labels (spelled as in labelsets.json) implied by these tags: the
        linear layer's where it decides, the rules' elsewhere."""
        return combined_labels(tags, self.linear.decides if self.linear else {})

    def stored_tags(self, tags: list[Tag], labels: dict) -> list[Tag]:
        """A record's tags as stored: for a review, without the designs of the trials it
        reviews ("open-label", "non-randomised": the site's filters would list it among such
        trials), and with the derived tags."""
        if REVIEW in labels["study_type"]:
            tags = [t for t in tags if t.value not in TRIAL_DETAILS]
        return tags + self.derived_tags(tags, labels)

    def derived_tags(self, tags: list[Tag], labels: dict) -> list[Tag]:
        """Tags the gold-style labels add beyond the matched words (defaults, parent labels), and
        the evidence level of the design: none for a narrative review, which the annotation's
        review label covers too but which is no systematic evidence. The parent "Psychiatric
        condition" and the evidence level point at the words of the tag they follow from."""
        present = {(t.facet, t.value) for t in tags}
        extra = []
        for task, values in labels.items():
            facet = TASK_FACET[task]
            for value in values:
                if (facet, value) not in present:
                    basis = _basis(tags, facet, PARENT_OF.get(value, set()) & set(values))
                    extra.append(_derived(facet, value, f"derived:{task}", basis))
        design = labels["study_type"][0] if labels["study_type"] else None
        if design == REVIEW and ("study_design", NARRATIVE) in present:
            design = None
        if EVIDENCE_LEVEL.get(design):
            extra.append(_derived("evidence_level", str(EVIDENCE_LEVEL[design]), "derived:evidence_level",
                                  _basis(tags, "study_design", {design})))
        return extra


def contradicted(design: str, title: str | None, tags: list[Tag]) -> bool:
    """The record says it is no `design` (one of CERTAIN_DESIGNS): its title (NOT_THE_DESIGN), a
    review that calls itself narrative, a study of animals."""
    return bool(NOT_THE_DESIGN[design].search(title or "")) or any(t.value in (NARRATIVE, "animal") for t in tags)


def with_decisions(tags: list[Tag], linear_tags: list[Tag], decided: set[tuple[str, str]]) -> list[Tag]:
    """The rules' tags less those for the (facet, value) pairs the linear layer decides (MeSH and
    keyword tags stay, as evidence), and the layer's own tags."""
    return [t for t in tags if t.source in indexed.SOURCES or (t.facet, t.value) not in decided] + linear_tags


def merge(rule_labels: list[str], layer_labels: list[str], decided: list[str]) -> list[str]:
    """One task's labels: the layer's among those it decides, the rules' for the rest, and the
    rules' alone if that would leave the task with no label at all."""
    merged = [v for v in rule_labels if v not in decided] + [v for v in layer_labels if v in decided]
    return merged or list(rule_labels)


def combined_labels(tags: list[Tag], decides: dict[str, list[str]]) -> dict[str, list[str]]:
    """The labels of a record's tags: the rules' (their defaults follow the tags as they stand,
    the linear layer's design included), with the linear layer's where it decides."""
    labels = rule_labels(tags)
    chosen: dict[str, list[str]] = {}
    for tag in tags:
        if tag.rule.startswith(LINEAR):
            chosen.setdefault(tag.facet, []).append(tag.value)
    for task, decided in decides.items():
        labels[task] = merge(labels[task], chosen.get(TASK_FACET[task], ()), decided)
    labels["condition"] = with_parent(labels["condition"], ANNOTATED_PSYCHIATRIC)
    if any(tag.value == NOTICE for tag in tags):
        labels["study_type"] = ["Other"]
    return labels


def rule_labels(tags: list[Tag]) -> dict[str, list[str]]:
    """The gold tasks' labels implied by the rules' tags (with defaults and parent labels)."""
    found: dict[str, list[str]] = {}
    for tag in tags:
        value = tag.value
        if value not in DETAIL_VALUES:
            values = found.setdefault(tag.facet, [])
            if value not in values:
                values.append(value)
    design = _design(found.get("study_design", []))
    review = design == REVIEW
    substances = [s for s in found.get("substance", []) if s != "Analogue"]
    if "Ketamine" in substances and ({"S-Ketamine", "R-Ketamine"} & set(substances)):
        substances.remove("Ketamine")
    if substances and (found.get("kap") or found.get("combination")):
        substances.append("Combination Therapy")
    conditions = with_parent([c for c in found.get("condition", []) if c in GOLD_LABELS["condition"]], PSYCHIATRIC)
    if not set(conditions) - {"Recreational Drug Use", "Healthy Participants"} and not review:
        # nobody in the study is described as ill: the annotation calls them healthy
        conditions = list(dict.fromkeys([*conditions, "Healthy Participants"]))
    labels = {
        "condition": conditions,
        "study_type": [design],
        "application_form": ["Not applicable"] if review else (found.get("route") or ["Unknown"]),
        "substances": substances or ["Unknown"],
        "age_of_participants": (["Not applicable"] if review or "animal" in found.get("population", [])
                                else [v for v in found.get("population", []) if v != "animal"]
                                or ["Adult (≥18 years)"]),
        "clinical_trial_phase": found.get("trial_phase") or (
            ["Unknown"] if design in ("Randomized-controlled trial (RCT)", "Study protocol") else ["Not Applicable"]),
        "study_control": ["Not applicable"] if review else _control(found.get("control", []), design),
        "number_of_participants": ["Not applicable"] if review else (found.get("participants") or ["Unknown"]),
    }
    return {task: [v for v in values if v in GOLD_SETS[task]] for task, values in labels.items()}


GOLD_SETS = {task: frozenset(labels) for task, labels in GOLD_LABELS.items()}
# The conditions the annotators always label with their parent "Psychiatric condition" (418 of 418
# dev records); not "Substance abuse" (2 of 20), their label for harmful use among drug users. The
# rules' "Substance abuse" is a named disorder ("substance use disorder"): psychiatric.
ANNOTATED_PSYCHIATRIC = {"Depression", "Anxiety", "Post-traumatic stress disorder (PTSD)", "Alcoholism",
                         "Other addictions (e.g. smoking)", "Anorexia"}
PSYCHIATRIC = ANNOTATED_PSYCHIATRIC | {"Substance abuse"}
PARENT_OF = {"Psychiatric condition": PSYCHIATRIC}
DESIGN_PRIORITY = [REVIEW, "Study protocol", "Randomized-controlled trial (RCT)", "Case report", "Case series",
                   "Qualitative Study", "Cohort study", "Real-world study"]


def _basis(tags: list[Tag], facet: str, values) -> Tag | None:
    """The first of the tags of `facet` with one of `values` that has words to show."""
    return next((t for t in tags if t.facet == facet and t.value in values and t.matched), None)


def _derived(facet: str, value: str, rule: str, basis: Tag | None) -> Tag:
    """A tag derived from others: where it follows from one with words (`basis`), it shows them."""
    if basis is None:
        return Tag(facet, value, "derived", rule=rule)
    return Tag(facet, value, basis.source, basis.matched, basis.start, basis.end,
               f"{rule} from {basis.facet}:{basis.value}")


def with_parent(conditions: list[str], children: set[str]) -> list[str]:
    """The conditions with their parent "Psychiatric condition" if one of `children` is among them
    (the linear layer's choices too, which may lack it)."""
    if set(conditions) & children and "Psychiatric condition" not in conditions:
        return [*conditions, "Psychiatric condition"]
    return conditions


def linear_tag(decision: Decision) -> Tag:
    """The tag of one of the linear layer's decisions: its words where a feature points at them,
    and the rule naming the probability and the features that weighed most."""
    why = f" ({decision.why})" if decision.why else ""
    rule = f"{LINEAR}{decision.task}:{decision.label} p={decision.probability:.2f}{why}"
    spot = decision.spot
    if spot is None:
        return Tag(TASK_FACET[decision.task], decision.label, "derived", rule=rule, probability=decision.probability)
    return Tag(TASK_FACET[decision.task], decision.label, spot.source, spot.matched, spot.start, spot.end, rule,
               decision.probability)


def _details(tags: list[Tag]) -> list[Tag]:
    """The designs that follow from others: a systematic review is no narrative one; a study of
    animals is preclinical, but an abstract that counts its people studies people, whatever
    animal findings it cites (the title or MeSH still say animals where both were studied)."""
    if any(t.value == REVIEW for t in tags):
        tags = [t for t in tags if t.value != NARRATIVE]
    animals = [t for t in tags if t.value == "animal"]
    if animals and animals[0].source == "abstract" and any(t.facet == COUNT_FACET for t in tags):
        tags.remove(animals.pop(0))  # (the text's tag comes before those of MeSH and keywords)
    if animals:
        animal = animals[0]
        tags.append(Tag("study_design", "Preclinical/animal", animal.source, animal.matched, animal.start, animal.end,
                        "study_design:Preclinical/animal"))
    return tags


def _title_routes(tags: list[Tag]) -> list[Tag]:
    """A route the title names is the study's: the abstract's other routes are then those of
    comparators, earlier treatments or background ("Oral esketamine ...": the intranasal
    esketamine its abstract recalls is not given)."""
    if not any(t.facet == "route" and t.source == "title" for t in tags):
        return tags
    return [t for t in tags if not (t.facet == "route" and t.source == "abstract")]


def _in_intervention(abstract: str, match) -> bool:
    """Psychotherapy the abstract names is part of the intervention (a KAP study) when it is
    "X-assisted" or its sentence names the substance ("ketamine ... combined with CBT") or its
    delivery ("All participants received psychological support"), not when it is one of the
    treatments a background sentence lists ("SSRIs and psychotherapy are first-line", "Department
    of Psychiatry and Psychotherapy")."""
    if "assisted" in match.group(0).lower():
        return True
    start = abstract.rfind(". ", 0, match.start()) + 1
    end = abstract.find(". ", match.end())
    return bool(GIVEN.search(abstract, start, end if end >= 0 else len(abstract)))


def _notice(title: str) -> list[Tag]:
    """A notice's tag where the title says it is one (NOTICE_TITLE)."""
    found = NOTICE_TITLE.search(title)
    return [Tag("study_design", NOTICE, "title", found.group(0), found.start(), found.end(), "study_design:notice")
            ] if found else []


def _participants(abstract: str, lowered: str, spots: dict | None) -> list[Tag]:
    """The number of people the abstract counts (pipeline/tagging/counts.py): binned as the annotation
    does, and as it is (facet participant_count, for sorting by sample size)."""
    matches = (counts.COUNTED.finditer(abstract) if spots is None
               else near(counts.COUNTED, abstract, lowered, spots.get(COUNT, ()), counts.REACH))
    found = counts.largest(abstract, matches)
    if found is None:
        return []
    count, start, end = found
    matched = abstract[start:end]
    return [Tag("participants", counts.binned(count), "abstract", matched, start, end, "participants:count"),
            Tag(COUNT_FACET, str(count), "abstract", matched, start, end, "participants:count")]


def _design(values) -> str:
    return next((d for d in DESIGN_PRIORITY if d in values), "Other")


def _control(values, design) -> list[str]:
    if values:
        return values[:2]
    return ["Other control"] if design == "Randomized-controlled trial (RCT)" else ["Non-controlled"]


def _negated(text: str, match) -> bool:
    before = text[max(0, match.start() - 60):match.start()]
    return bool(NEGATION.search(before))


def _unique(tags):
    seen, out = set(), []
    for tag in tags:
        if (tag.facet, tag.value, tag.source) not in seen:
            seen.add((tag.facet, tag.value, tag.source))
            out.append(tag)
    return out
