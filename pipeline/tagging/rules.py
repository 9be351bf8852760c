"""The rules as data: which words (in the title, the abstract, publication types) give which
facet value, and the anchors that let one pass over a text find every rule worth trying.

The decisions that turn these tags into labels live in pipeline/tagging/tagger.py; MeSH headings
and keywords are in pipeline/tagging/indexed.py.
"""

from __future__ import annotations

import re

from kaplit.pipeline.tagging import counts
from kaplit.pipeline.tagging.anchors import Anchor, AnchorIndex, anchors
from kaplit.pipeline.tagging.linear import NEGATION_CUE_WORDS
from kaplit.pipeline.tagging.taxonomy import DETAIL_VALUES

DEMENTIAS = ("Alzheimer’s disease", "Non-Alzheimer dementia")
REVIEW = "Systematic review/meta-analysis"
NARRATIVE = "Narrative review"
# A record that is no study but a note about one (an erratum, a retraction note, a comment, an
# editorial): it takes the design "Other" and no evidence level, whatever the study it names was.
NOTICE = "Notice (correction, retraction, comment, editorial)"


def _rules(facet, table):
    return [(facet, value, re.compile(pattern, re.I), anchors(pattern)) for value, pattern in table]


TEXT_RULES = [
    *_rules("substance", [
        ("S-Ketamine", r"\b(esketamine|es-ketamine|s-ketamine|spravato)\b|\(s\)-ketamine\b"),
        ("R-Ketamine", r"\b(arketamine|ar-ketamine|r-ketamine)\b|\(r\)-ketamine\b"),
        ("Ketamine", r"(?<![-)])\bketamine\b"),
        ("MDMA", r"\b(mdma|ecstasy|3,4-methylenedioxymethamphetamine|midomafetamine)\b"),
        ("LSD", r"\b(lsd|lysergic acid diethylamide)\b"),
        ("Psilocybin", r"\b(psilocybin|psilocin)\b"),
        ("Psychedelic mushrooms", r"\b(magic|psilocybin|psychedelic) mushrooms?\b"),
        ("Ayahuasca", r"\bayahuasca\b"),
        ("DMT", r"(?<!meo-)\b(n,n-dimethyltryptamine|dmt)\b"),
        ("5-MeO-DMT", r"\b5-meo-dmt\b"),
        ("Mescaline", r"\b(mescaline|peyote)\b"),
        ("Ibogaine", r"\b(ibogaine|noribogaine)\b"),
        ("Salvinorin A", r"\b(salvinorin|salvia divinorum)\b"),
        ("Analogue", r"\b(analogue?s?|derivatives?)\b"),
    ]),
    *_rules("kap", [
        ("psychotherapy", r"\b(\w+-assisted (group )?(psycho)?therapy|psychotherapy|cognitive[- ]behaviou?ral therapy|"
                          r"psychological support|therapeutic support|motivational enhancement|"
                          r"mindfulness|psychedelic-assisted)\b"),
    ]),
    *_rules("combination", [
        ("combined", r"\b(combined with|in combination with|combination (therapy|treatment)|adjunct\w*|"
                     r"augment\w*|electroconvulsive|ect\b|transcranial magnetic)"),
    ]),
    *_rules("route", [
        ("Intravenous", r"\b(intravenous\w*|i\.v\b|iv ketamine|infusions?|infused|bolus)\b"),
        ("Nasal", r"\b(intranasal\w*|nasal(ly)? (sprays?|administ\w*|route|delivery|esketamine|ketamine)|"
                  r"(es)?ketamine nasal|nasally)\b"),  # ("intra-nasal ketamine": \b stands after the hyphen)
        # not the oral antidepressant an esketamine trial adds, nor a temperature, a fluid or a talk
        ("Oral", r"\b(oral(?!ly active| (antidepressants?|ad|ssris?|medications?|temperature|fluid|health|cavity|"
                 r"mucosa|presentations?|communication|history|contraceptives?)\b)\w*|capsules?|tablets?|by mouth|"
                 r"perorally|p\.o\b|mg po|tea|brew|ingest\w*|microdos\w*)\b"),
        ("Subcutaneous", r"\b(subcutaneous\w*|s\.c\b)\b"),
        ("Smoking", r"\b(smok\w*|inhal\w*|vapori[sz]\w*)\b"),
        ("Other", r"\b(intramuscular\w*|i\.m\b|sublingual\w*|transmucosal|rectal\w*|epidural|intrathecal)\b"),
    ]),
    *_rules("condition", [
        ("Depression", r"\b(depress\w*|mdd|trd|dysthymi\w*|anhedoni\w*|suicid\w*)"),
        ("Anxiety", r"\b(anxiety disorders?|generali[sz]ed anxiety|social anxiety|anxiety)\b"),
        ("Post-traumatic stress disorder (PTSD)", r"\b(ptsd|post-?traumatic stress)\b"),
        ("Alcoholism", r"\b(alcohol (use disorder|dependence|addiction|abuse)|alcoholism|alcoholics?)\b"),
        ("Other addictions (e.g. smoking)", r"\b(smoking cessation|tobacco|nicotine|gambling|"
                                            r"(cocaine|opioid|opiate|heroin|(?<!dioxy-)methamphetamine|stimulant|"
                                            r"cannabis) (use disorders?|dependence|addiction)|cocaine use|"
                                            r"(?<!dioxy-)methamphetamine use|(opioid|opiate|heroin)-dependent)\b"),
        ("Substance abuse", r"\b(substance use disorders?|substance abuse|drug (abuse|dependence|addiction)|"
                            r"addiction)\b"),
        ("Anorexia", r"\b(anorexia nervosa|eating disorders?)\b"),
        ("Alzheimer’s disease", r"\balzheimer\w*"),
        # not plain "cognitive impairment": ketamine's and ecstasy's own effects on cognition, an
        # outcome in 35 of 39 snapshot records it tagged, none a study of people with dementia
        ("Non-Alzheimer dementia", r"\b(dementias?|mild cognitive impairment|(major|mild) neurocognitive disorders?|"
                                   r"lewy bod(y|ies)|frontotemporal)\b"),
        ("(Chronic) Pain", r"\b(chronic pain|pain|analgesi\w*|neuropath\w*|fibromyalgia|migraine|cluster headache)\b"),
        ("Palliative Setting", r"\b(palliative|end-of-life|terminal(ly)? ill|life-threatening|hospice|"
                               r"cancer[- ]related distress|advanced cancer)\b"),
        ("Recreational Drug Use", r"\b(recreational\w*|users?|non-?medical use|festival|rave|"
                                  r"illicit|street drugs?|misuse|poly-?drug)\b"),
        ("Healthy Participants", r"\b(healthy (volunteers?|participants?|subjects?|adults?|individuals?|men|women|"
                                 r"controls?)|normal volunteers?)\b"),
        ("Psychiatric condition", r"\b(schizophreni\w*|psychos[ie]s|psychotic|bipolar|obsessive[- ]compulsive|ocd|"
                                  r"autis\w*|adhd|mental (illness|disorders?|health)|psychiatric)\b"),
    ]),
    *_rules("study_design", [
        (REVIEW, r"\b(systematic(ally)? review\w*|meta-?analys[ie]s|meta-regression|pooled analysis)\b"),
        ("Randomized-controlled trial (RCT)", r"\b(randomi[sz]ed|randomly assigned|randomly allocated|"
                                              r"double-blind\w*|placebo-controlled|crossover)\b"),
        ("Study protocol", r"\b(study protocol|trial protocol|protocol for|this protocol|will be (randomi[sz]ed|"
                           r"recruited|assessed|enrolled)|we will)\b"
                           r"|^intervention:|\bproduct name:"),  # trial registry entries
        ("Case report", r"\b(case report|we (report|present|describe) (a|the) (case|patient)|"
                        r"a \d{1,2}-year-old)\b"),
        ("Case series", r"\b(case series|(\d+|two|three|four|five|six) cases)\b"),
        ("Qualitative Study", r"\b(qualitative|semi-structured interviews?|thematic analysis|"
                              r"interpretative phenomenological)\b"),
        ("Cohort study", r"\b(cohort)\b"),
        ("Real-world study", r"\b(retrospective\w*|survey\w*|questionnaires?|real-world|naturalistic|"
                             r"observational|online|cross-sectional|chart review|registry)\b"),
    ]),
    *_rules("trial_phase", [
        ("Phase 1", r"\bphase (1|i)\b(?![/-])"),
        ("Phase 2", r"\bphase (2|ii|1/2|i/ii|2a|2b|iia|iib)\b"),
        ("Phase 3", r"\bphase (3|iii)\b"),
        ("Phase 4", r"\bphase (4|iv)\b"),
    ]),
    *_rules("control", [
        ("Placebo", r"\b(placebo\w*|sham|saline)\b"),
        ("Active control", r"\b(midazolam|active (control|comparator)|compared (with|to) (ect|escitalopram|"
                           r"electroconvulsive)|versus (ect|escitalopram|electroconvulsive))\b"),
        ("Non-controlled", r"\b(open-label|single-arm|uncontrolled|non-controlled|open trial)\b"),
        ("Pre-post", r"\b(pre-post|pre- and post|before and after|from baseline)\b"),
    ]),
    *_rules("condition", [  # finer values (taxonomy.DETAILS): they leave the annotation's labels alone
        ("Treatment-resistant depression", r"\b(treatment[- ](resistant|refractory) (major )?depress\w*|trd|"
                                           r"(resistant|refractory) depression)\b"),
        ("Bipolar depression", r"\bbipolar (depress\w*|disorders?|i|ii)\b"),
        ("Postpartum/perinatal depression", r"\b(post-?partum|peri-?partum|perinatal|post-?natal|antenatal|"
                                            r"puerper\w*)\b"),
        ("Suicidal ideation/behaviour", r"\bsuicid\w*"),
        ("Obsessive-compulsive disorder", r"\b(obsessive[- ]compulsive|ocd)\b"),
        ("Opioid use disorder", r"\b(opioid (use disorder|dependence|addiction|withdrawal)|opiate (dependence|"
                                r"addiction)|heroin)\b"),
        # (?<!dioxy-): MDMA's chemical name written with a hyphen, "3,4-methylenedioxy-methamphetamine"
        ("Cocaine/stimulant use", r"\b(cocaine|(?<!dioxy-)methamphetamine|amphetamine (use|dependence)|"
                                  r"stimulant use)\b"),
        ("Cannabis use", r"\b(cannabis|marijuana|marihuana)\b"),
        ("Tobacco/smoking", r"\b(tobacco|smoking cessation|smokers?|nicotine dependence|cigarettes?)\b"),
        ("Recreational ketamine use/harms", r"\b(ketamine[- ](abuse|abuser|abusers|misuse|dependence|addiction|user|"
                                            r"users|uropathy|cystitis|bladder)|"
                                            r"(recreational|illicit|street) ketamine)\b"),
        ("Anaesthesia/sedation/acute analgesia", r"\b(general an(a)?esthesia|induction of an(a)?esthesia|"
                                                 r"procedural sedation|sedation|post-?operative (pain|analgesia)|"
                                                 r"perioperative|intraoperative|surgery|surgical patients|"
                                                 r"emergency department)\b"),
    ]),
    *_rules("study_design", [
        ("Open-label/single-arm", r"\b(open-label|open label|single-arm|single arm|uncontrolled)\b"),
        ("Controlled non-randomised", r"\b(nonrandomized|nonrandomised|non-randomized|non-randomised|"
                                      r"quasi-experimental)\b"),
        (NARRATIVE, r"\b(narrative review|literature review|review of the literature|review of the evidence|"
                             r"this review|we review|we reviewed)\b"),
    ]),
    *_rules("route", [
        ("Intramuscular", r"\b(intramuscular\w*|i\.m\b)"),
        ("Sublingual/buccal", r"\b(sublingual\w*|buccal|transmucosal)\b"),
    ]),
    *_rules("population", [
        ("Older adult", r"\b(older (adults?|patients|people)|elderly|geriatric|late-life)\b"),
    ]),
    *_rules("population", [
        ("Pediatric (< 18 years old)", r"\b(child\w*|adolescen\w*|pediatric|paediatric|youths?|"
                                       r"teenagers?|juvenile|minors)\b"),
        ("animal", r"\b(rats?|mice|mouse|rodents?|monkeys?|primates?|zebrafish|animal models?)\b"),
    ]),
]

# A title that says the record is something other than the design the tagger gave: such an RCT or
# systematic review is not listed as certain (Tagger.design_certain). Read as a clinician would,
# such titles were the wrong "RCTs" of the PTSD list: an observational study, an open-label trial,
# an appraisal of others' trials, a primer.
NOT_THE_DESIGN = {
    "Randomized-controlled trial (RCT)": re.compile(
        r"\b(reviews?|overview|apprais\w*|primer|perspectives?|commentary|editorial|observational|open[- ]label|"
        r"single[- ]arm|retrospective\w*|case (reports?|series)|protocol|post[- ]?hoc|secondary analys[ie]s|"
        r"pooled analys[ie]s|rationale|real[- ]world|cohort|naturalistic)\b", re.IGNORECASE),
    "Systematic review/meta-analysis": re.compile(
        r"\b(narrative|primer|perspectives?|commentary|editorial|historical|rats?|mice|rodents?)\b", re.IGNORECASE),
}
# The notice's own words open or close its title: "Author Correction: ...", "Retraction Note: ...",
# "Comment on: ...", "Reply to ...", "'The trial's title': Erratum." (a letter may report a study: no notice)
NOTICE_TITLE = re.compile(
    r"^\W*(?:(?:author correction|correction|corrigendum|erratum|retraction note|retraction notice|"
    r"notice of retraction|expression of concern|editorial|comment)(?: (?:to|on))?\s*(?::|[\"'“‘]|\W*$)|"
    r"(?:in )?(?:reply|response) to (?:the )?(?:[\"'“‘]|letter|comment|commentary|editorial))|"
    r":\s*(?:erratum|corrigendum|correction)\W*$", re.I)

PUBLICATION_TYPE_RULES = {
    "Randomized Controlled Trial": ("study_design", "Randomized-controlled trial (RCT)"),
    "Systematic Review": ("study_design", REVIEW),
    "Meta-Analysis": ("study_design", REVIEW),
    "Case Reports": ("study_design", "Case report"),
    "Observational Study": ("study_design", "Real-world study"),
    "Clinical Trial, Phase I": ("trial_phase", "Phase 1"),
    "Clinical Trial, Phase II": ("trial_phase", "Phase 2"),
    "Clinical Trial, Phase III": ("trial_phase", "Phase 3"),
    "Clinical Trial, Phase IV": ("trial_phase", "Phase 4"),
    "Published Erratum": ("study_design", NOTICE),
    "Retraction of Publication": ("study_design", NOTICE),
    "Expression of Concern": ("study_design", NOTICE),
    "Comment": ("study_design", NOTICE),
    "Editorial": ("study_design", NOTICE),
}

NEGATION = re.compile(r"(\bno\b|\bnot\b|\bwithout\b|\babsence of\b|\bfree of\b|\bexclud\w*|\bexclusion\b|"
                      r"\bnon-?)[^.;]{0,40}$", re.I)
KAP = next(index for index, (facet, *_) in enumerate(TEXT_RULES) if facet == "kap")
# A finer condition, a dementia (no annotator gave one, so the rules alone decide them) or animals
# count from the abstract only when named twice there: once is often a background sentence
# ("ketamine is effective in treatment-resistant depression", "... for the prevention of
# Alzheimer's disease", "in rats, ketamine ...").
TWICE = frozenset(index for index, (facet, value, *_) in enumerate(TEXT_RULES)
                  if facet == "condition" and (value in DETAIL_VALUES or value in DEMENTIAS) or value == "animal")
# After the rules' anchors, those of the participant count ("=" and the nouns) and the negation
# words the linear layer's features need: one pass over the text finds them all.
COUNT, CUES = len(TEXT_RULES), len(TEXT_RULES) + 1
ANCHORS = AnchorIndex([*(rule_anchors for *_, rule_anchors in TEXT_RULES),
                       (Anchor("="), *(Anchor(noun, at_word_start=True, ends=True) for noun in counts.PEOPLE)),
                       tuple(Anchor(cue, at_word_start=True) for cue in NEGATION_CUE_WORDS)])


GIVEN = re.compile(r"\b(ketamine|esketamine|arketamine|psychedelics?|psilocybin|mdma|lsd|ayahuasca|dmt|ibogaine|"
                   r"mescaline|receiv\w*|provided|delivered|offered|underwent|sessions?)\b", re.I)


