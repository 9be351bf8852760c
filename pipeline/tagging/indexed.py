"""MeSH headings and author keywords that say what a study is about, as tags of the taxonomy.

Indexers' terms are evidence a clinician trusts, but new records carry none for months. Here
they are tags of the rules; the linear layer weighs them as features of their own
(pipeline/tagging/linear.py: indexing_features), for the tasks train.INDEXED names.
"""

from __future__ import annotations

# MeSH headings (and author keywords, looked up the same way) that say what a study is about.
# Not every heading does: "Schizophrenia" on a ketamine study usually means a psychosis model in
# healthy volunteers, "Substance-Related Disorders" a survey of recreational users; an
# "esketamine" keyword often sits on a study of racemic ketamine, and "Aged" on any study whose
# participants reach 65 (not one of older adults).
INDEXED_TERMS = {
    "Depression": ("condition", "Depression"),
    "Depressive Disorder": ("condition", "Depression"),
    "Depressive Disorder, Major": ("condition", "Depression"),
    "Major depressive disorder": ("condition", "Depression"),
    "Dysthymic Disorder": ("condition", "Depression"),
    "Depressive Disorder, Treatment-Resistant": (("condition", "Depression"),
                                                 ("condition", "Treatment-resistant depression")),
    "Treatment-resistant depression": (("condition", "Depression"), ("condition", "Treatment-resistant depression")),
    "Depression, Postpartum": (("condition", "Depression"), ("condition", "Postpartum/perinatal depression")),
    "Bipolar Disorder": (("condition", "Depression"), ("condition", "Bipolar depression")),
    "Suicidal Ideation": (("condition", "Depression"), ("condition", "Suicidal ideation/behaviour")),
    "Suicide, Attempted": (("condition", "Depression"), ("condition", "Suicidal ideation/behaviour")),
    "Anxiety Disorders": ("condition", "Anxiety"),
    "Phobia, Social": ("condition", "Anxiety"),
    "Panic Disorder": ("condition", "Anxiety"),
    "Stress Disorders, Post-Traumatic": ("condition", "Post-traumatic stress disorder (PTSD)"),
    "Obsessive-Compulsive Disorder": (("condition", "Psychiatric condition"),
                                      ("condition", "Obsessive-compulsive disorder")),
    "Alcoholism": ("condition", "Alcoholism"),
    "Alcohol use disorder": ("condition", "Alcoholism"),
    "Tobacco Use Disorder": (("condition", "Other addictions (e.g. smoking)"), ("condition", "Tobacco/smoking")),
    "Smoking Cessation": (("condition", "Other addictions (e.g. smoking)"), ("condition", "Tobacco/smoking")),
    "Opioid-Related Disorders": (("condition", "Other addictions (e.g. smoking)"),
                                 ("condition", "Opioid use disorder")),
    "Heroin Dependence": (("condition", "Other addictions (e.g. smoking)"), ("condition", "Opioid use disorder")),
    "Cocaine-Related Disorders": (("condition", "Other addictions (e.g. smoking)"),
                                  ("condition", "Cocaine/stimulant use")),
    "Amphetamine-Related Disorders": (("condition", "Other addictions (e.g. smoking)"),
                                      ("condition", "Cocaine/stimulant use")),
    "Marijuana Abuse": ("condition", "Cannabis use"),
    "Anorexia Nervosa": ("condition", "Anorexia"),
    "Alzheimer Disease": ("condition", "Alzheimer’s disease"),
    "Dementia": ("condition", "Non-Alzheimer dementia"),
    "Chronic Pain": ("condition", "(Chronic) Pain"),
    "Neuralgia": ("condition", "(Chronic) Pain"),
    "Fibromyalgia": ("condition", "(Chronic) Pain"),
    "Complex Regional Pain Syndromes": ("condition", "(Chronic) Pain"),
    "Migraine Disorders": ("condition", "(Chronic) Pain"),
    "Palliative Care": ("condition", "Palliative Setting"),
    "Terminal Care": ("condition", "Palliative Setting"),
    "Hospice Care": ("condition", "Palliative Setting"),
    "Healthy Volunteers": ("condition", "Healthy Participants"),
    "Anesthesia": ("condition", "Anaesthesia/sedation/acute analgesia"),
    "Anesthesia, General": ("condition", "Anaesthesia/sedation/acute analgesia"),
    "Conscious Sedation": ("condition", "Anaesthesia/sedation/acute analgesia"),
    "Deep Sedation": ("condition", "Anaesthesia/sedation/acute analgesia"),
    "Pain, Postoperative": ("condition", "Anaesthesia/sedation/acute analgesia"),
    "Administration, Intranasal": ("route", "Nasal"),
    "Nasal Sprays": ("route", "Nasal"),
    "Administration, Oral": ("route", "Oral"),
    "Infusions, Intravenous": ("route", "Intravenous"),
    "Injections, Intravenous": ("route", "Intravenous"),
    "Administration, Intravenous": ("route", "Intravenous"),
    "Injections, Subcutaneous": ("route", "Subcutaneous"),
    "Injections, Intramuscular": (("route", "Other"), ("route", "Intramuscular")),
    "Administration, Sublingual": (("route", "Other"), ("route", "Sublingual/buccal")),
    "Administration, Buccal": (("route", "Other"), ("route", "Sublingual/buccal")),
    "Psychotherapy": ("kap", "psychotherapy"),
    "Cognitive Behavioral Therapy": ("kap", "psychotherapy"),
    "Psychotherapy, Group": ("kap", "psychotherapy"),
    "Mindfulness": ("kap", "psychotherapy"),
    "Child": ("population", "Pediatric (< 18 years old)"),
    "Child, Preschool": ("population", "Pediatric (< 18 years old)"),
    "Infant": ("population", "Pediatric (< 18 years old)"),
    "Rats": ("population", "animal"),
    "Mice": ("population", "animal"),
    "Disease Models, Animal": ("population", "animal"),
}
SOURCES = ("mesh", "keyword")
_BY_TERM = {term.lower(): values if isinstance(values[0], tuple) else (values,)
            for term, values in INDEXED_TERMS.items()}


def lookup(term: str) -> tuple[tuple[str, str], ...]:
    """The (facet, value) pairs a MeSH heading or keyword stands for (none for most)."""
    return _BY_TERM.get(term_key(term), ())


def term_key(term: str) -> str:
    """A MeSH heading or keyword in lower case, a heading without the qualifiers and major-topic
    star it may come with ("Depressive Disorder, Major/drug therapy*")."""
    return term.split("/", 1)[0].strip(" *").lower()
