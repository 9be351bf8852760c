"""The kaplit taxonomy: what a study is about, in facets a clinician browses by.

Each facet value is tagged from the record's own words (title, abstract, MeSH, publication
types) by the rules in pipeline/tagging/tagger.py. `GOLD_LABELS` names the evaluation tasks of the
PsyNamic annotation (../shared/gold/labelsets.json) and their labels, spelled exactly as there,
so that `kaplit tag` output can be scored against human labels.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Facet:
    """A facet of the taxonomy, declared once: its name (the tags' `facet`), what it means, the
    gold task whose labels it answers (GOLD_LABELS[task] spells them), and the finer values a
    clinician browses by beyond those labels (they change no label). The rules that give its
    values are in pipeline/tagging/rules.py and indexed.py, keyed by the name; /taxonomy shows all."""

    name: str
    description: str
    task: str | None = None
    details: tuple[str, ...] = ()


TAXONOMY = [
    Facet("condition", "Condition studied (a parent 'Psychiatric condition' is added for any psychiatric one)",
          "condition", ("Treatment-resistant depression", "Bipolar depression", "Postpartum/perinatal depression",
                        "Suicidal ideation/behaviour", "Obsessive-compulsive disorder", "Opioid use disorder",
                        "Cocaine/stimulant use", "Cannabis use", "Tobacco/smoking", "Recreational ketamine use/harms",
                        "Anaesthesia/sedation/acute analgesia")),
    Facet("study_design", "Study design, from publication types and the abstract's own words", "study_type",
          ("Open-label/single-arm", "Controlled non-randomised", "Narrative review", "Preclinical/animal",
           "Notice (correction, retraction, comment, editorial)")),
    Facet("evidence_level",
          "Evidence level derived from the design (1 = systematic review of RCTs ... 5 = case report)"),
    Facet("route", "Route of administration", "application_form", ("Intramuscular", "Sublingual/buccal")),
    Facet("substance", "Substance form: racemic ketamine, esketamine (S-), arketamine (R-), other psychedelics",
          "substances"),
    Facet("kap", "Psychotherapy or psychological support is part of the intervention"),
    Facet("population", "Age group and species", "age_of_participants", ("Older adult",)),
    Facet("trial_phase", "Clinical trial phase", "clinical_trial_phase"),
    Facet("control", "Control condition", "study_control"),
    Facet("participants", "Number of participants (binned)", "number_of_participants"),
    Facet("participant_count", "Number of people the abstract counts: the largest count, or groups added up"),
]
FACETS = {facet.name: facet.description for facet in TAXONOMY}
COUNT_FACET = "participant_count"  # no label of the annotation: its range is (participants)
# Finer values a clinician browses by, beyond the labels of the human annotation (which they do
# not change): facet → values. They are tags with evidence like any other, and `studies.details`
# lists them per study.
DETAILS = {facet.name: list(facet.details) for facet in TAXONOMY if facet.details}
DETAIL_VALUES = frozenset(value for values in DETAILS.values() for value in values)

# Evidence level of each design: lower is stronger.
EVIDENCE_LEVEL = {
    "Systematic review/meta-analysis": 1,
    "Randomized-controlled trial (RCT)": 2,
    "Cohort study": 3,
    "Real-world study": 3,
    "Case series": 4,
    "Case report": 5,
    "Qualitative Study": 4,
    "Study protocol": None,
    "Other": None,
}
# the designs a list presents as fact only when they are certain (tagger.Tagger.design_certain)
CERTAIN_DESIGNS = ("Systematic review/meta-analysis", "Randomized-controlled trial (RCT)")

GOLD_LABELS = {
    "condition": ["Psychiatric condition", "Depression", "Anxiety", "Post-traumatic stress disorder (PTSD)",
                  "Alcoholism", "Other addictions (e.g. smoking)", "Anorexia", "Alzheimer’s disease",
                  "Non-Alzheimer dementia", "Substance abuse", "(Chronic) Pain", "Palliative Setting",
                  "Recreational Drug Use", "Healthy Participants"],
    "study_type": ["Randomized-controlled trial (RCT)", "Cohort study", "Real-world study", "Study protocol",
                   "Systematic review/meta-analysis", "Qualitative Study", "Case report", "Case series", "Other"],
    "application_form": ["Oral", "Nasal", "Intravenous", "Smoking", "Subcutaneous", "Other", "Unknown",
                         "Not applicable"],
    "substances": ["Ketamine", "S-Ketamine", "R-Ketamine", "MDMA", "LSD", "Psilocybin", "Psychedelic mushrooms",
                   "Ayahuasca", "DMT", "5-MeO-DMT", "Mescaline", "Ibogaine", "Salvinorin A",
                   "Combination Therapy", "Analogue", "Unknown"],
    "age_of_participants": ["Pediatric (< 18 years old)", "Adult (≥18 years)", "Unknown", "Not applicable"],
    "clinical_trial_phase": ["Phase 1", "Phase 2", "Phase 3", "Phase 4", "Unknown", "Not Applicable"],
    "study_control": ["Placebo", "Active control", "Pre-post", "Other control", "Non-controlled",
                      "Not applicable"],
    "number_of_participants": ["1-20", "100-199", "200-499", "21-40", "41-60", "500-999", "61-80", "81-100",
                               "Not applicable", "Unknown", "≥1000"],
}

# Facet whose tags answer each gold task.
TASK_FACET = {facet.task: facet.name for facet in TAXONOMY if facet.task}


@dataclass(frozen=True)
class StudyColumn:
    """A column of `studies` that the tagger fills, declared once: the schema's column list, the
    row the re-tag writes and the column's description on the site all follow from it (a new
    column still needs its migration: db/schema.py spells each migration's own columns).

    `task`: a gold task whose labels fill it (all as a JSON list, or the first); else `attribute`
    of the TaggedRecord (pipeline/tagging/tagger.py) fills it. A list column's labels are also rows
    of `study_labels` (facet = the column's name), which every count and filter reads."""

    name: str
    description: str
    task: str | None = None
    as_list: bool = False
    attribute: str | None = None
    kind: type = str


STUDY_COLUMNS_FROM_TAGS = [
    StudyColumn("design", "Study design (a notice such as an erratum or a comment is Other: see details)",
                task="study_type"),
    StudyColumn("design_certain", "1 when the design is certain enough to list as one: an RCT or a systematic "
                "review/meta-analysis whose publication type agrees, or that the tagger gave with a probability "
                "from which its cross-validated precision is at least 0.95 (the thresholds are on /taxonomy); 0 "
                "when it is not (the landing page's lists and evidence map leave it one click away); empty for "
                "the other designs", attribute="design_certain", kind=int),
    StudyColumn("evidence_level", "1 systematic review/meta-analysis, 2 RCT, 3 cohort/real-world, 4 case "
                "series/qualitative, 5 case report (none for a narrative review, a protocol or a notice)",
                attribute="evidence_level", kind=int),
    StudyColumn("conditions", "Conditions studied (JSON list; a parent 'Psychiatric condition' accompanies any "
                "psychiatric one). How often human annotators agree with each value, held out, is on /taxonomy",
                task="condition", as_list=True),
    StudyColumn("routes", "Routes of administration (JSON list)", task="application_form", as_list=True),
    StudyColumn("substances", "Substances (JSON list; S-Ketamine = esketamine, R-Ketamine = arketamine); "
                "Combination Therapy when given with psychotherapy or another treatment",
                task="substances", as_list=True),
    StudyColumn("kap", "1 for ketamine-assisted psychotherapy: psychotherapy or psychological support is part of "
                "the intervention and the substance is a form of ketamine (see psychotherapy for any substance)",
                attribute="kap", kind=int),
    StudyColumn("age_groups", "Age groups (JSON list)", task="age_of_participants", as_list=True),
    StudyColumn("trial_phase", "Clinical trial phase", task="clinical_trial_phase"),
    StudyColumn("controls", "Control conditions (JSON list)", task="study_control", as_list=True),
    StudyColumn("participants", "Number of participants, binned as the human annotation does; where the "
                "abstract gives a count, the count's range", attribute="participants"),
    StudyColumn("details", "Finer values (JSON list): treatment-resistant, bipolar or postpartum depression, "
                "suicidality, OCD, opioid/stimulant/cannabis/tobacco use, recreational ketamine harms, "
                "anaesthesia/sedation; open-label, non-randomised, narrative review, preclinical, notice (an "
                "erratum, retraction note, comment or editorial: design Other, no evidence level); "
                "intramuscular, sublingual; older adults. See /taxonomy", attribute="details", as_list=True),
    StudyColumn("participant_count", "How many people the abstract counts (the largest count, or groups added "
                "up; for a review, the pooled number), where it gives one. Sort by it for sample size",
                attribute="participant_count", kind=int),
    StudyColumn("ketamine", "1 when the study is about any form of ketamine: racemic ketamine, esketamine "
                "(S-Ketamine) or arketamine (R-Ketamine). The filter a clinician means by 'ketamine'",
                attribute="ketamine", kind=int),
    StudyColumn("psychotherapy", "1 when psychotherapy or psychological support is part of the intervention, "
                "whatever the substance (MDMA- or psilocybin-assisted therapy too)",
                attribute="psychotherapy", kind=int),
]
LABELLED_COLUMNS = [column.name for column in STUDY_COLUMNS_FROM_TAGS if column.as_list]
