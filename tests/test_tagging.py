"""Tagging: explainable tags on real snapshot abstracts, negation, evaluation against gold labels."""

from __future__ import annotations

import gzip
import json
import shutil

import pytest
from click.testing import CliRunner

from kaplit.cli import cli
from kaplit.db.schema import STUDY_COLUMNS, open_db
from kaplit.db.tags import retag
from kaplit.pipeline.parse.record import Article
from kaplit.pipeline.parse.sources import discover, read_records
from kaplit.pipeline.tagging import counts
from kaplit.pipeline.tagging.evaluate import (
    f1_interval,
    indexing_by_pmid,
    load_gold,
    resampled_f1,
    score_task,
    with_indexing,
)
from kaplit.pipeline.tagging.linear import WEIGHTS, LinearLayer
from kaplit.pipeline.tagging.rules import NOTICE
from kaplit.pipeline.tagging.tagger import ANNOTATED_PSYCHIATRIC, Tagger
from kaplit.pipeline.tagging.taxonomy import CERTAIN_DESIGNS, GOLD_LABELS
from kaplit.pipeline.tagging.train import FOLDS, fit, layer_model, rule_view, shipped, train

# Cross-validated weighted F1 on ../shared/gold/dev.jsonl.gz of rules + linear layer "linear-1"
# (`kaplit train` prints them); a change that scores lower fails here. The targets of issue 4
# are higher: this is a floor, not the goal.
# (condition 0.911 -> 0.910 when the title's route began to drop the abstract's others, for route
# 0.880 -> 0.889 nested: docs/tagger-experiments.md)
CV_FLOOR = {"condition": 0.905, "study_type": 0.85, "application_form": 0.88, "substances": 0.90,
            "age_of_participants": 0.91, "clinical_trial_phase": 0.77, "study_control": 0.78,
            "number_of_participants": 0.82}


@pytest.fixture(scope="module")
def snapshot_records(shared):
    return {r.pmid: r for p in discover([shared / "pubmed" / "snapshot" / "ketamine"])
            for r in read_records(p) if isinstance(r, Article)}


@pytest.fixture(scope="module")
def retrained(shared):
    return train(shared / "gold" / "dev.jsonl.gz", indexing_by_pmid(shared / "pubmed" / "snapshot"))


def test_cross_validated_f1_does_not_drop_and_beats_the_rules(retrained):
    scores = retrained["cross_validated_weighted_f1"]
    assert all(scores[task]["combined"] >= floor for task, floor in CV_FLOOR.items()), scores
    assert all(s["combined"] > s["rules"] for s in scores.values()), scores


def test_shipped_weights_are_reproducible_from_the_gold_file(retrained):
    shipped = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    assert retrained["decides"] == shipped["decides"]
    assert retrained["trained_on"] == shipped["trained_on"]
    for task, labels in shipped["models"].items():
        for label, model in labels.items():
            again = retrained["models"][task][label]
            assert again["weights"].keys() == model["weights"].keys(), (task, label)
            assert max((abs(again["weights"][f] - w) for f, w in model["weights"].items()), default=0.0) < 1e-3
            assert abs(again["bias"] - model["bias"]) < 1e-3


def test_cross_validation_scores_what_the_tagger_does(shared):
    """The F1 `kaplit train` reports is of the labels the tagger itself would give: on one fold,
    the real Tagger with that fold's models gives each held-out record the labels training
    counted for it (a layer deciding some of a task's labels gives none where all score below
    zero; one deciding them all gives at least one)."""
    rows = load_gold(shared / "gold" / "dev.jsonl.gz")
    tags, found, _ = rule_view(rows)
    held = [i for i in range(len(rows)) if i % FOLDS == 0]
    models = fit([f for i, f in enumerate(found) if i % FOLDS], [r for i, r in enumerate(rows) if i % FOLDS])
    shipped_file = json.loads(WEIGHTS.read_text(encoding="utf-8"))
    choices = {"decides": shipped_file["decides"], "whole": set(shipped_file["whole"]),
               "sets": set(shipped_file["label_sets"])}
    counted = shipped(rows, tags, found, [(held, models)], choices)
    trained_on = [r for i, r in enumerate(rows) if i % FOLDS]
    tagger = Tagger(linear=LinearLayer(layer_model(trained_on, choices, models)))
    for i in held:
        given = tagger.labels(tagger.tag(rows[i]["title"], rows[i]["abstract"]))
        assert {task: sorted(labels) for task, labels in given.items()} == {
            task: sorted(labels) for task, labels in counted[i].items()}, rows[i]["id"]


def test_conditions_come_as_a_set_the_annotators_used(snapshot_records):
    """The layer gives condition labels as a whole set, one the annotators gave some record
    (linear.json's label_sets): depression, anxiety, PTSD and the addictions come with
    "Psychiatric condition" on every snapshot record, and no record gets a combination nobody
    used, but for the labels its title names (from_title: they are added to the set, with their
    parent)."""
    tagger = Tagger()
    sets = {frozenset(s["labels"]) for s in json.loads(WEIGHTS.read_text(encoding="utf-8"))["label_sets"]["condition"]}
    decided, depressed, named = set(tagger.linear.decides["condition"]), 0, 0
    for record in snapshot_records.values():
        tags = tagger.tag(record.article["title"], record.article["abstract"])
        labels = tagger.labels(tags)["condition"]
        from_title = {t.value for t in tags if t.facet == "condition" and "named in the title" in t.rule}
        named += bool(from_title)
        added = from_title | ({"Psychiatric condition"} if ANNOTATED_PSYCHIATRIC & from_title else set())
        assert frozenset(labels) & decided - added in sets or (
            frozenset(labels) & decided in sets), (record.pmid, labels)
        depressed += "Depression" in labels
        if ANNOTATED_PSYCHIATRIC.intersection(labels):
            assert "Psychiatric condition" in labels, record.pmid
    assert depressed > 100 and named > 10


def test_every_tag_of_the_snapshot_points_at_its_words(snapshot_records):
    """Every stored tag names its rule, and its words are where it says; a derived tag too when
    it shows the words of the tag it follows from (the evidence level, the design's)."""
    tagger = Tagger()
    linear = derived_with_words = 0
    for record in snapshot_records.values():
        texts = {"title": record.article["title"] or "", "abstract": record.article["abstract"] or ""}
        tags = tagger.tag(texts["title"], texts["abstract"])
        for tag in tagger.stored_tags(tags, tagger.labels(tags)):
            assert tag.rule, tag
            linear += tag.rule.startswith("linear:")
            derived_with_words += tag.rule.startswith("derived:") and tag.matched is not None
            if tag.source in texts and tag.start is not None:
                assert texts[tag.source][tag.start:tag.end] == tag.matched, (record.pmid, tag)
    assert linear > len(snapshot_records)  # the layer does decide
    assert derived_with_words > len(snapshot_records) / 4


@pytest.mark.parametrize("pmid, facet, value, source, matched, rule", [
    (32412700, "evidence_level", "2", "abstract", "randomized",
     "derived:evidence_level from study_design:Randomized-controlled trial (RCT)"),
    (21742012, "condition", "Psychiatric condition", "title", "nicotine",
     "derived:condition from condition:Other addictions (e.g. smoking)"),
])
def test_a_derived_tag_shows_the_words_it_follows_from(snapshot_records, pmid, facet, value, source, matched, rule):
    record = snapshot_records[pmid]
    tagger, tags = tags_of(record)
    [derived] = [t for t in tagger.stored_tags(tags, tagger.labels(tags)) if (t.facet, t.value) == (facet, value)]
    assert (derived.source, derived.matched, derived.rule) == (source, matched, rule)
    assert record.article[source][derived.start:derived.end] == matched


def test_weighted_f1_follows_scikit_learn():
    gold = [["A"], ["A", "B"], ["B"], ["C"]]
    predicted = [["A"], ["A"], ["A", "B"], []]
    weighted, per_label = score_task(gold, predicted)
    # A: P 2/3 R 1 F1 .8 (support 2); B: P 1 R .5 F1 2/3 (2); C: 0 (1) -> (1.6 + 4/3) / 5
    assert per_label["A"].f1 == pytest.approx(0.8)
    assert weighted.f1 == pytest.approx((0.8 * 2 + 2 / 3 * 2) / 5)
    assert weighted.support == 5


@pytest.fixture(scope="module")
def condition_labels(shared):
    """The gold file's condition labels and the shipped tagger's (in-sample: this is about the
    arithmetic, not the score)."""
    tagger, gold, said = Tagger(), [], []
    for row in load_gold(shared / "gold" / "dev.jsonl.gz"):
        if row["labels"].get("condition"):
            gold.append(row["labels"]["condition"])
            said.append(tagger.labels(tagger.tag(row["title"], row["abstract"]))["condition"])
    return gold, said


def test_resampled_f1_is_scikit_learns_on_each_draw(condition_labels):
    from sklearn.metrics import f1_score
    from sklearn.preprocessing import MultiLabelBinarizer

    gold, said = condition_labels
    draws = [list(range(0, 90, 3)), [0, 0, 5, 9, 9, 9, 40] * 4 + [1, 2], [7] * 30]  # 30 records each
    binary = MultiLabelBinarizer().fit(gold + said)
    for draw, f1 in zip(draws, resampled_f1(gold, said, draws)):
        expected = f1_score(binary.transform([gold[i] for i in draw]), binary.transform([said[i] for i in draw]),
                            average="weighted", zero_division=0)
        assert f1 == pytest.approx(expected)


def test_the_f1_range_holds_the_score_and_narrows_with_more_records(condition_labels):
    gold, said = condition_labels
    f1 = score_task(gold, said)[0].f1
    low, high = f1_interval(gold, said)
    few_low, few_high = f1_interval(gold[:100], said[:100])
    assert low < f1 < high and few_low < score_task(gold[:100], said[:100])[0].f1 < few_high
    assert high - low < few_high - few_low
    assert f1_interval(gold, said) == (low, high)  # seeded


def tags_of(record):
    tagger = Tagger()
    row = record.article
    return tagger, tagger.tag(row["title"], row["abstract"], [p["name"] for p in record.publication_types])


def test_esketamine_nasal_spray_trial_pmid_32412700(snapshot_records):
    record = snapshot_records[32412700]
    tagger, tags = tags_of(record)
    found = {(t.facet, t.value) for t in tags}
    assert {("substance", "S-Ketamine"), ("route", "Nasal"), ("condition", "Depression"),
            ("study_design", "Randomized-controlled trial (RCT)"), ("control", "Placebo")} <= found
    texts = {"title": record.article["title"], "abstract": record.article["abstract"]}
    for tag in tags:  # the evidence is where it says it is (a tag derived from others has no place)
        assert tag.source == "derived" or texts[tag.source][tag.start:tag.end] == tag.matched
    labels = tagger.labels(tags)
    # esketamine, not racemic ketamine; given "with comprehensive standard-of-care treatment (...
    # newly initiated or optimized oral antidepressant[s])", which the retrained layer (rules-9)
    # calls Combination Therapy, as the annotation defines it
    assert labels["substances"][0] == "S-Ketamine" and "Ketamine" not in labels["substances"]
    assert set(labels["substances"]) <= {"S-Ketamine", "Combination Therapy"}


@pytest.mark.parametrize("pmid, design", [
    (24668760, "Randomized-controlled trial (RCT)"),  # "...: a randomized controlled trial in ..."
    (38315489, "Randomized-controlled trial (RCT)"),  # "...: A Randomized Clinical Trial"
    (36970275, "Study protocol"),  # "Ketamine study: Protocol for naturalistic prospective ..."
    (37482224, "Randomized-controlled trial (RCT)"),  # "...: A randomized controlled trial"
    (35231204, "Systematic review/meta-analysis"),  # "...: a systematic review and meta-analysis"
    (36516343, "Real-world study"),  # "Real-world effectiveness of repeated ketamine infusions ..."
])
def test_a_record_without_abstract_takes_its_design_from_the_title(snapshot_records, pmid, design):
    """Real snapshot records that have a title and no abstract (letters, new records): the design
    the title names stands (the linear layer learnt from abstracts), and the missing participant
    count does not make a trial a protocol, as an unknown count does in an abstract."""
    record = snapshot_records[pmid]
    assert not record.article["abstract"]
    tagger, tags = tags_of(record)
    assert tagger.labels(tags)["study_type"] == [design]


@pytest.mark.parametrize("pmid, matched", [
    (28353354, ": Erratum."),  # "'Administration of ketamine for ... depression': Erratum."
    (37349477, "Correction:"),  # a correction to a trial: the layer alone calls it an RCT
    (38820654, "Comment on:"),
    (39279805, "Editorial:"),
])
def test_notices_are_no_studies(snapshot_records, pmid, matched):
    """Real errata, comments and editorials of the snapshot: design "Other", no evidence level,
    and a notice tag pointing at the title's own words."""
    record = snapshot_records[pmid]
    tagger, tags = tags_of(record)
    labels = tagger.labels(tags)
    assert labels["study_type"] == ["Other"]
    assert not [t for t in tagger.derived_tags(tags, labels) if t.facet == "evidence_level"]
    notice = [t for t in tags if t.value == NOTICE]
    assert [(t.source, t.matched) for t in notice] == [("title", matched)]
    assert record.article["title"][notice[0].start:notice[0].end] == matched


def test_a_notice_by_its_publication_type_pmid_32894878(shared):
    """A real editorial whose title ("Methods Refocused.") does not say so: its publication type does."""
    [record] = read_records(shared / "pubmed" / "efetch" / "metapub" / "32894878.xml")
    types = [p["name"] for p in record.publication_types]
    tagger = Tagger()
    tags = tagger.tag(record.article["title"], record.article["abstract"], types)
    assert ("publication_type", "Editorial") in [(t.source, t.matched) for t in tags if t.value == NOTICE]
    assert tagger.labels(tags)["study_type"] == ["Other"]


@pytest.mark.parametrize("title", [  # hand-written: titles that open with a notice's words but are studies
    "Letter to the editor: esketamine in adolescents with major depression, a case series",
    "Response to ketamine in treatment-resistant depression: a randomized trial",
    "Correction of hyponatraemia after ketamine infusions",
])
def test_studies_are_no_notices(title):
    assert NOTICE not in [t.value for t in Tagger(linear=False).rule_tags(title, "")]


def test_a_label_named_in_the_title_is_given_whatever_the_scores():
    """from_title (chosen by train.from_title): the rules' hit in the title gives the label, with
    the title's words as evidence, though the label's own score is far below zero."""
    model = {"version": "t", "decides": {"condition": ["Anorexia", "Depression"]},
             "models": {"condition": {"Anorexia": {"bias": -9.0, "weights": {}},
                                      "Depression": {"bias": -9.0, "weights": {}}}},
             "from_title": {"condition": ["Anorexia"]}}
    tagger = Tagger(linear=LinearLayer(model))
    title = "Psilocybin for anorexia nervosa and depression"  # hand-written
    tags = tagger.tag(title, "Ten women received psilocybin.")
    labels = tagger.labels(tags)["condition"]
    assert "Anorexia" in labels and "Depression" not in labels  # (the rules give the labels the layer does not decide)
    [named] = [t for t in tags if t.value == "Anorexia"]
    assert (named.source, title[named.start:named.end]) == ("title", "anorexia nervosa")
    assert "named in the title" in named.rule
    assert "Anorexia" not in tagger.labels(tagger.tag("Psilocybin for depression", "Women with anorexia nervosa."))[
        "condition"]  # named in the abstract only: the scores decide


@pytest.mark.parametrize("decided, parent", [("Other addictions (e.g. smoking)", True), ("Substance abuse", False)])
def test_a_psychiatric_condition_the_layer_gives_comes_with_its_parent(decided, parent):
    """The layer may score an addiction high and its parent low; the labels carry the parent
    all the same, as the annotators always gave it, but not for "Substance abuse" (harmful use
    among drug users, as annotated: 2 of 20 records with the parent)."""
    conditions = ["Other addictions (e.g. smoking)", "Substance abuse", "Psychiatric condition"]
    model = {"version": "t", "decides": {"condition": conditions},
             "models": {"condition": {c: {"bias": 9.0 if c == decided else -9.0, "weights": {}} for c in conditions}}}
    tagger = Tagger(linear=LinearLayer(model))
    tags = tagger.tag("Psilocybin and drug use", "Forty adults took part.")  # hand-written
    labels = tagger.labels(tags)["condition"]
    assert decided in labels and ("Psychiatric condition" in labels) is parent


def test_a_design_named_in_the_title_replaces_the_best_scoring_one():
    """For a single-label task the title's label takes the place of the best-scoring one."""
    model = {"version": "t", "decides": {"study_type": ["Case report", "Other"]}, "whole": ["study_type"],
             "models": {"study_type": {"Case report": {"bias": -9.0, "weights": {}},
                                       "Other": {"bias": 5.0, "weights": {}}}},
             "from_title": {"study_type": ["Case report"]}}
    tagger = Tagger(linear=LinearLayer(model))
    abstract = "A woman of 40 received ketamine."  # hand-written
    assert tagger.labels(tagger.tag("Ketamine for depression: a case report", abstract))["study_type"] == [
        "Case report"]
    assert tagger.labels(tagger.tag("Ketamine for depression", abstract))["study_type"] == ["Other"]


def test_chronic_pain_named_in_the_title_pmid_27317968(snapshot_records):
    """A real trial in chronic pain patients: the shipped layer gives "(Chronic) Pain" from the title."""
    record = snapshot_records[27317968]
    tagger, tags = tags_of(record)
    assert "(Chronic) Pain" in tagger.labels(tags)["condition"]
    [pain] = [t for t in tags if t.value == "(Chronic) Pain"]
    assert pain.source == "title" and record.article["title"][pain.start:pain.end] == pain.matched == "chronic pain"


def test_meta_analysis_pmid_39790081(snapshot_records):
    tagger, tags = tags_of(snapshot_records[39790081])
    labels = tagger.labels(tags)
    assert labels["study_type"] == ["Systematic review/meta-analysis"]
    # a review gives no route or trial phase of its own (the annotation's convention); its
    # number of participants the layer reads from the text, right or wrong (pooled numbers)
    assert labels["application_form"] == ["Not applicable"]
    assert labels["clinical_trial_phase"] == ["Not Applicable"]


# Hand-written records (not from any real one) for negation and mere mentions. The negated
# condition stands in the abstract only; the title names what the study is about, as titles do.
DEPRESSION_TRIAL = "Ketamine infusions for major depression: a randomised trial"


@pytest.mark.parametrize("title, abstract, present, absent", [
    ("Ketamine for veterans with PTSD", "Adults with PTSD received ketamine. PTSD symptoms fell.",
     {"Post-traumatic stress disorder (PTSD)"}, set()),
    (DEPRESSION_TRIAL, "Adults with depression but without PTSD received ketamine. Depression scores fell.",
     {"Depression"}, {"Post-traumatic stress disorder (PTSD)"}),
    (DEPRESSION_TRIAL, "Patients with depression and no history of alcohol use disorder were enrolled.",
     {"Depression"}, {"Alcoholism"}),
    (DEPRESSION_TRIAL, "Exclusion criteria included anorexia nervosa. Depression scores fell.",
     {"Depression"}, {"Anorexia"}),
])
def test_negated_conditions_are_not_tags(title, abstract, present, absent):
    tagger = Tagger()
    conditions = set(tagger.labels(tagger.tag(title, abstract))["condition"])
    assert present <= conditions and not (absent & conditions), conditions


@pytest.mark.parametrize("sentence, route, matched", [  # hand-written; abbreviations end in a dot
    ("Ketamine 0.5 mg/kg i.v. was given over 40 minutes.", "Intravenous", "i.v"),
    ("Psilocybin (0.25 mg/kg p.o.) was given once.", "Oral", "p.o"),
    ("Esketamine 0.2 mg/kg s.c. was given weekly.", "Subcutaneous", "s.c"),
    ("Ketamine 0.5 mg/kg i.m. was given before surgery.", "Other", "i.m"),
])
def test_abbreviated_routes_are_read(sentence, route, matched):
    tags = Tagger(linear=False).rule_tags("", sentence)
    assert [(t.value, t.matched) for t in tags if t.facet == "route" and t.value in GOLD_LABELS["application_form"]
            ] == [(route, matched)]


@pytest.mark.parametrize("title, matched", [  # hand-written titles: an addiction to a named drug
    ("Ketamine for cocaine use disorder: a pilot trial", "cocaine use disorder"),
    ("Noribogaine in opioid-dependent patients", "opioid-dependent"),
    ("Psilocybin for heroin addiction", "heroin addiction"),
    ("Ketamine and cannabis users at festivals", None),  # use alone is recreational, not an addiction
])
def test_other_addictions_name_the_drug(title, matched):
    tags = Tagger(linear=False).rule_tags(title, "")
    assert [t.matched for t in tags if t.value == "Other addictions (e.g. smoking)"] == ([matched] if matched else [])


def test_cannabis_use_disorder_pmid_33175580(snapshot_records):
    """A real trial of cannabis use disorder: the annotators' "other addictions", from the title."""
    record = snapshot_records[33175580]
    tagger = Tagger()
    tags = tagger.tag(record.article["title"], record.article["abstract"])
    assert ("Other addictions (e.g. smoking)", "cannabis use disorder", "title") in [
        (t.value, t.matched, t.source) for t in Tagger(linear=False).rule_tags(record.article["title"], "")]
    assert "Other addictions (e.g. smoking)" in tagger.labels(tags)["condition"]


@pytest.mark.parametrize("abstract, value, matched", [  # hand-written sentences
    ("Twenty drug users (ten female) and twenty healthy controls were scanned.", "21-40",
     "Twenty drug users (ten female) and twenty healthy"),
    ("METHODS: One hundred twenty-seven patients with major depression were randomised.", "100-199",
     "One hundred twenty-seven patients"),
    ("We pooled 27 reports including 1,715 patients.", "≥1000", "1,715 patients"),
    ("Ecstasy is used by 260 million people; we surveyed 42 users at festivals.", "41-60", "42 users"),
    ("Twelve men and 12 women took part.", "21-40", "Twelve men and 12 women"),
    ("Symptoms were followed for 12 months in respondents.", None, None),
    ("We recruited 15 moderate users, 23 heavy users and 16 former users.", "41-60",
     "15 moderate users, 23 heavy users and 16 former users"),
    ("Users (n = 53), polydrug controls (n = 62) and drug-naive controls (n = 111) took part.", "200-499",
     "n = 53), polydrug controls (n = 62) and drug-naive controls (n = 111"),
    ("Patients (n = 30) were randomised to ketamine (n = 15) or placebo (n = 15).", "21-40", "n = 30"),
    # numbers that count no one: a phase, a trial's name, a disease's year, a decimal, an age, a year
    ("This phase 3 double-blind study randomized patients with TRD.", None, None),
    ("In TRANSFORM-2 patients received esketamine.", None, None),
    ("COVID-19 patients were excluded.", None, None),
    ("A dose of 0.5 mg/kg was given to 24 patients.", "21-40", "24 patients"),
    ("Those aged 65 patients or older were excluded; we enrolled forty patients.", "21-40", "forty patients"),
    ("In 2015 patients were enrolled at two sites.", None, None),
    ("Between April and September 2015, 26 veterans were treated.", "21-40", "26 veterans"),
    ("About 45 percent of patients responded.", None, None),
    ("A total of 1,035 individuals took part.", "≥1000", "1,035 individuals"),
])
def test_participants_are_counted_in_words_and_groups(abstract, value, matched):
    tags = [t for t in Tagger(linear=False).tag("A study", abstract) if t.facet == "participants"]
    assert [(t.value, t.matched) for t in tags] == ([(value, matched)] if value else [])
    assert all(abstract[t.start:t.end] == t.matched for t in tags)


@pytest.mark.parametrize("pmid, value, first_word",
                         [(12044624, "21-40", "Thirty-five"), (12495789, "61-80", "Seventy")])
def test_participants_written_in_words_pmids(snapshot_records, pmid, value, first_word):
    """Real abstracts that count their patients in words; the gold file agrees on the range."""
    record = snapshot_records[pmid]
    tags = Tagger(linear=False).tag(record.article["title"], record.article["abstract"])
    (count,) = [t for t in tags if t.facet == "participants"]
    assert count.value == value and count.matched.split()[0] == first_word


def test_tag_command_writes_labels_spelled_as_the_gold_labelsets(tmp_path, shared):
    with gzip.open(shared / "gold" / "dev.jsonl.gz", "rt") as handle:
        rows = [json.loads(next(handle)) for _ in range(20)]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(json.dumps({k: r[k] for k in ("id", "title", "abstract")}) for r in rows))
    result = CliRunner().invoke(cli, ["tag", "--input", str(source), "--output", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    allowed = json.loads((shared / "gold" / "labelsets.json").read_text())
    assert [o["id"] for o in out] == [r["id"] for r in rows]
    for line in out:
        assert set(line["labels"]) == set(allowed)
        for task, labels in line["labels"].items():
            assert set(labels) <= set(allowed[task]["labels"]), (task, labels)
        assert all(t["rule"] for t in line["tags"])


def test_eval_command_scores_every_task_and_says_when_the_file_trained_the_layer(shared):
    result = CliRunner().invoke(cli, ["eval", "--gold", str(shared / "gold" / "dev.jsonl.gz")])
    assert result.exit_code == 0, result.output
    assert "trained on" in result.output and "cross-validated" in result.output
    scores = {line.split()[0]: float(line.split()[2]) for line in result.output.splitlines() if " F1 " in line}
    assert set(scores) == set(json.loads((shared / "gold" / "labelsets.json").read_text()))
    assert all(0 < f1 <= 1 for f1 in scores.values())
    ranges = {line.split()[0]: line.split("(95% ")[1].split(")")[0].split("-") for line in result.output.splitlines()
              if " F1 " in line}
    assert all(float(low) <= scores[task] <= float(high) for task, (low, high) in ranges.items())


GOOD_GOLD = '{"id": "1", "title": "Ketamine for depression", "abstract": "x", "labels": {"condition": ["Depression"]}}'


@pytest.mark.parametrize("bad_line, problem", [  # hand-written gold lines
    ("not json", "not JSON"),
    ('{"id": "2", "title": "x", "abstract": "y"}', "with title, abstract and labels"),
    ('{"id": "2", "title": "x", "abstract": "y", "labels": {"condition": ["Depresion"]}}',
     "'Depresion' is no condition label"),
    ('{"id": "2", "title": "x", "abstract": "y", "labels": {"conditions": ["Depression"]}}',
     "'conditions' is no task"),
])
def test_eval_and_train_name_a_bad_gold_line_and_write_nothing(tmp_path, bad_line, problem):
    gold, model = tmp_path / "gold.jsonl", tmp_path / "model.json"
    gold.write_text(GOOD_GOLD + "\n" + bad_line + "\n")
    for command in (["eval", "--gold", str(gold)], ["train", "--gold", str(gold), "--out", str(model)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1 and f"{gold} line 2: " in result.output and problem in result.output, command
    assert list(tmp_path.iterdir()) == [gold]


@pytest.mark.parametrize("bad_line, problem", [  # hand-written lines
    ("not json", "not JSON"),
    ('{"title": "x", "abstract": "y"}', "with an id"),
    ('{"id": 2, "title": ["x"], "abstract": "y"}', "must be strings"),
])
def test_tag_command_names_a_bad_line_and_writes_nothing(tmp_path, bad_line, problem):
    source, target = tmp_path / "bad.jsonl", tmp_path / "out.jsonl"
    source.write_text('{"id": 1, "title": "x", "abstract": "y"}\n' + bad_line + "\n")
    result = CliRunner().invoke(cli, ["tag", "--input", str(source), "--output", str(target)])
    assert result.exit_code == 1 and f"{source} line 2: " in result.output and problem in result.output
    assert list(tmp_path.iterdir()) == [source]  # no output, not even the first line, and no .partial left


def test_tag_command_reads_mesh_and_keywords_and_refuses_other_shapes(tmp_path):
    source = tmp_path / "indexed.jsonl"  # hand-written records
    source.write_text(json.dumps({"id": 1, "title": "Ketamine infusions", "abstract": "Adults received ketamine.",
                                  "mesh": ["Depressive Disorder, Treatment-Resistant", "Humans"],
                                  "keywords": ["suicidal ideation"]}) + "\n")
    result = CliRunner().invoke(cli, ["tag", "--input", str(source)])
    assert result.exit_code == 0, result.output
    tags = {(t["facet"], t["value"], t["source"], t["matched"]) for t in json.loads(result.output)["tags"]}
    assert {("condition", "Treatment-resistant depression", "mesh", "Depressive Disorder, Treatment-Resistant"),
            ("condition", "Suicidal ideation/behaviour", "keyword", "suicidal ideation")} <= tags
    source.write_text(json.dumps({"id": 3, "title": "Ketamine infusions", "abstract": "Adults received ketamine.",
                                  "mesh": ["Depressive Disorder, Treatment-Resistant/drug therapy*"]}) + "\n")
    result = CliRunner().invoke(cli, ["tag", "--input", str(source)])
    assert ("condition", "Treatment-resistant depression", "mesh") in {
        (t["facet"], t["value"], t["source"]) for t in json.loads(result.output)["tags"]}  # with its qualifier
    source.write_text(json.dumps({"id": 2, "title": "x", "abstract": "y", "mesh": "Ketamine"}) + "\n")
    result = CliRunner().invoke(cli, ["tag", "--input", str(source)])
    assert result.exit_code == 1 and f"{source} line 1" in result.output and "mesh" in result.output


@pytest.fixture(scope="module")
def indexed_gold(shared):
    """The dev records that the snapshot lends MeSH headings or keywords, lent them."""
    rows = with_indexing(load_gold(shared / "gold" / "dev.jsonl.gz"), indexing_by_pmid(shared / "pubmed" / "snapshot"))
    return [row for row in rows if row.get("mesh") or row.get("keywords")]


@pytest.mark.parametrize("pmid, route", [
    (38523183, "Oral"),  # "Oral esketamine ...": the intranasal esketamine its abstract recalls is not given
    (40198677, "Nasal"),  # "... Esketamine and Dexmedetomidine Nasal Administration ..."
])
def test_the_route_the_title_names_is_the_study_s(snapshot_records, pmid, route):
    record = snapshot_records[pmid]
    assert Tagger().tag_record(record.article["title"], record.article["abstract"]).labels["application_form"] == [
        route]


def test_an_oral_antidepressant_beside_the_studied_drug_is_no_oral_route():
    """The rules' Oral leaves out the oral antidepressant an esketamine trial adds, an oral
    temperature and a drug "orally active" in a background sentence (hand-written sentences)."""
    tags = Tagger(linear=False).rule_tags(
        "Esketamine nasal spray in treatment-resistant depression",
        "Adults received esketamine nasal spray with a newly initiated oral antidepressant. Oral temperature was "
        "recorded. DMT is orally active only with a MAO inhibitor.")
    assert {t.value for t in tags if t.facet == "route"} == {"Nasal"}


def test_mesh_and_keywords_weigh_in_the_layer_and_a_record_without_them_is_tagged_from_its_text(
        tmp_path, indexed_gold):
    """`kaplit tag` with a record's MeSH headings and keywords gives other labels than without them
    for some records (the layer weighs them for route, age and phase), names them as reasons, and
    without them tags as the text alone says."""
    assert len(indexed_gold) >= 500
    source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [{"id": f"{row['id']}{suffix}", "title": row["title"], "abstract": row["abstract"], **indexing}
             for row in indexed_gold
             for suffix, indexing in (("+", {"mesh": row.get("mesh") or [], "keywords": row.get("keywords") or []}),
                                      ("-", {}))]
    source.write_text("\n".join(json.dumps(line) for line in lines))
    result = CliRunner().invoke(cli, ["tag", "--input", str(source), "--output", str(target)])
    assert result.exit_code == 0, result.output
    out = {line["id"]: line for line in map(json.loads, target.read_text().splitlines())}
    changed = {task for row in indexed_gold for task in ("application_form", "age_of_participants",
                                                          "clinical_trial_phase")
               if out[row["id"] + "+"]["labels"][task] != out[row["id"] + "-"]["labels"][task]}
    assert changed, "MeSH and keywords changed no label"
    reasons = [t["rule"] for line in out.values() if line["id"].endswith("+") for t in line["tags"]
               if t["rule"].startswith("linear:")]
    assert any(" m:" in rule or "(m:" in rule for rule in reasons)
    assert not any(" m:" in t["rule"] or "(m:" in t["rule"] for line in out.values() if line["id"].endswith("-")
                   for t in line["tags"])
    plain = Tagger()
    row = indexed_gold[0]
    assert out[row["id"] + "-"]["labels"] == plain.tag_record(row["title"], row["abstract"]).labels


def test_nested_cross_validation_is_reported_beside_the_plain_figure(retrained):
    """Every choice made again inside each outer fold: the nested figure stays near the plain one
    (a gap would say the choices were fitted to the folds), and the designs the lists present as
    certain are right at least 95 times in 100, nested."""
    plain, nested = retrained["cross_validated_weighted_f1"], retrained["nested_cross_validated_weighted_f1"]
    assert set(nested) == set(plain)
    assert all(abs(nested[task] - plain[task]["combined"]) < 0.02 for task in plain), nested
    assert all(nested[task] >= CV_FLOOR[task] - 0.02 for task in plain), nested
    for design, listed in retrained["nested_certain_designs"].items():
        assert listed["precision"] >= 0.95 and listed["listed"] >= 50, (design, listed)
        assert listed["precision"] > listed["precision_of_all"] or listed["held_back"] <= 1
        assert 0 < retrained["certain_designs"][design] < 1


def test_designs_a_clinician_found_wrong_are_not_listed_as_certain(snapshot_records):
    """Read as a clinician would, these "RCTs" were not: open-label trials (40215385 the call
    for trials it makes; 40468911), a post-hoc analysis of an observational study (39233241), an
    observational study (40767785), a narrative review (40781763), an appraisal of others' trials
    (32479321); nor is a study of rats a systematic review (38065224). None is listed as certain
    of its design; other RCTs are."""
    tagger = Tagger()
    for pmid in (40215385, 40468911, 39233241, 40767785, 40781763, 32479321, 38065224):
        record = snapshot_records[pmid]
        tagged = tagger.tag_record(record.article["title"], record.article["abstract"])
        assert tagged.design_certain != 1, (pmid, tagged.labels["study_type"])
    trials = [tagger.tag_record(r.article["title"], r.article["abstract"]) for r in snapshot_records.values()]
    rcts = [t for t in trials if t.labels["study_type"] == ["Randomized-controlled trial (RCT)"]]
    assert {t.design_certain for t in rcts} == {0, 1}
    assert all(t.design_certain is None for t in trials if t.labels["study_type"][0] not in CERTAIN_DESIGNS)


@pytest.mark.parametrize("title, abstract, expected", [  # hand-written: a finer condition needs the title,
    ("Ketamine in adults", "Ketamine is used in treatment-resistant depression. We gave it to 30 adults.", False),
    ("Ketamine for treatment-resistant depression", "We gave ketamine to 30 adults.", True),  # or two mentions
    ("Ketamine in adults", "Adults with treatment-resistant depression (TRD) received ketamine; TRD improved.", True),
    ("Ketamine in adults", "Adults without treatment-resistant depression or TRD received ketamine.", False),
])
def test_finer_conditions_mean_the_study_is_about_them(title, abstract, expected):
    values = {t.value for t in Tagger(linear=False).rule_tags(title, abstract)}
    assert ("Treatment-resistant depression" in values) == expected



@pytest.mark.parametrize("title, abstract, dementia", [  # hand-written: a dementia is the condition studied
    ("Ketamine-induced cognitive impairment in healthy volunteers", "Ketamine impaired recall.", None),
    ("Ketamine in adults", "Esketamine caused less cognitive impairment than ECT.", None),
    ("Ketamine for agitation in mild cognitive impairment", "Ten patients received ketamine.",
     "Non-Alzheimer dementia"),
    ("LSD in older adults", "LSD is studied for the prevention of Alzheimer's disease. Ten adults took LSD.", None),
    ("LSD in older adults", "Alzheimer's disease patients took LSD; Alzheimer's symptoms were rated.",
     "Alzheimer’s disease"),
])
def test_dementia_means_people_with_dementia_were_studied(title, abstract, dementia):
    values = {t.value for t in Tagger().tag(title, abstract) if t.facet == "condition"}
    assert values & {"Alzheimer’s disease", "Non-Alzheimer dementia"} == ({dementia} if dementia else set())


def test_dementia_in_real_records(snapshot_records):
    """PMID 39184713 treats early-onset dementia (title); 23490576 studies cognitive impairment of
    ketamine users, who have no dementia (before rules-7 it was tagged so, as were 35 of the 39
    snapshot records the rules tagged with a dementia)."""
    def dementia(pmid):
        _, tags = tags_of(snapshot_records[pmid])
        return [t.matched for t in tags if t.value == "Non-Alzheimer dementia"]
    assert dementia(39184713) == ["Dementia"] and dementia(23490576) == []


@pytest.mark.parametrize("title, abstract, animal", [  # hand-written
    ("Ketamine in rats", "Ketamine was injected.", True),
    ("Ketamine in depression", "In rats, ketamine acts fast. Patients received ketamine.", False),  # named once
    ("Ketamine in depression", "Studies in rats and mice show effects. We treated 24 patients.", False),  # counted
    ("Ketamine and memory", "Rats received ketamine; the rats then learnt a maze.", True),
])
def test_animals_named_in_passing_make_no_animal_study(title, abstract, animal):
    values = {t.value for t in Tagger(linear=False).rule_tags(title, abstract)}
    assert ("animal" in values) == ("Preclinical/animal" in values) == animal


@pytest.mark.parametrize("pmid, preclinical", [
    (38291050, True),  # "... subanesthetic ketamine in rats" (title)
    (37160885, False),  # an RCT in treatment-resistant depression that cites animal models once
    (28242871, False),  # healthy volunteers (n = 29); the abstract names rats three times
])
def test_preclinical_studies_in_real_records(snapshot_records, pmid, preclinical):
    _, tags = tags_of(snapshot_records[pmid])
    assert ("Preclinical/animal" in {t.value for t in tags}) == preclinical


@pytest.mark.parametrize("pmid, level, details, reviewed", [
    # "Oral Ketamine for Depression: A Systematic Review", whose abstract counts open-label trials
    (30995364, "1", set(), {"Open-label/single-arm"}),
    # "... A Narrative Review": the annotation's review label, but no systematic evidence
    (38476783, None, {"Narrative review"}, set()),
])
def test_a_review_is_no_trial_and_a_narrative_one_no_systematic_evidence(snapshot_records, pmid, level, details,
                                                                         reviewed):
    title, abstract = snapshot_records[pmid].article["title"], snapshot_records[pmid].article["abstract"]
    tagged = Tagger().tag_record(title, abstract)
    tags, labels = tagged.tags, tagged.labels
    assert labels["study_type"] == ["Systematic review/meta-analysis"]
    assert [t.value for t in tags if t.facet == "evidence_level"] == ([level] if level else [])
    assert {t.value for t in tags if t.facet == "study_design"} - {"Systematic review/meta-analysis"} == details
    assert reviewed <= {t.value for t in Tagger(linear=False).rule_tags(title, abstract)}  # the trials' words


@pytest.mark.parametrize("abstract, matched", [  # hand-written: psychotherapy as part of the intervention
    ("SSRIs and psychotherapy are first-line treatments. Ketamine was infused in 20 patients.", None),
    ("Department of Psychiatry and Psychotherapy, Vienna. Ketamine was infused.", None),
    ("Psychotherapy alone often fails. Ketamine infusions were combined with cognitive behavioral therapy.",
     "cognitive behavioral therapy"),
    ("Patients received ketamine-assisted psychotherapy.", "ketamine-assisted psychotherapy"),
    ("Ketamine was infused without psychotherapy.", None),
])
def test_kap_means_psychotherapy_is_part_of_the_treatment(abstract, matched):
    kap = [t.matched for t in Tagger(linear=False).rule_tags("Ketamine for depression", abstract) if t.facet == "kap"]
    assert kap == ([matched] if matched else [])


@pytest.mark.parametrize("pmid, source", [
    (40215385, "abstract"),  # ketamine infusions combined with written exposure therapy
    (39971922, "title"),  # "... Ketamine-Assisted Group Therapy ..."
    (39899368, None),  # "SSRIs and cognitive behavioral therapy are the first-line treatments" (background)
])
def test_kap_in_real_records(snapshot_records, pmid, source):
    _, tags = tags_of(snapshot_records[pmid])
    assert {t.source for t in tags if t.facet == "kap"} == ({source} if source else set())


@pytest.mark.parametrize("title, stimulant", [  # hand-written titles
    ("Aggression after 3,4-methylenedioxy-methamphetamine use", False),  # MDMA's chemical name
    ("Ketamine for methamphetamine use disorder", True),
])
def test_mdma_is_no_stimulant_use(title, stimulant):
    values = {t.value for t in Tagger(linear=False).rule_tags(title, "")}
    assert ("Cocaine/stimulant use" in values) == stimulant

def test_mesh_headings_are_evidence_and_fill_the_details(tmp_path, snapshot_db):
    """Snapshot records indexed with MeSH "Depressive Disorder, Treatment-Resistant" carry it as
    evidence and list treatment-resistant depression among their details."""
    shutil.copy(snapshot_db, tmp_path / "k.db")
    db = open_db(tmp_path / "k.db")
    retag(db)
    indexed = {p for (p,) in db.execute("select pmid from mesh_headings "
                                        "where descriptor = 'Depressive Disorder, Treatment-Resistant'")}
    evidence = {p for (p,) in db.execute("select pmid from tags where source = 'mesh' "
                                         "and value = 'Treatment-resistant depression'")}
    detailed = {p for (p,) in db.execute("select pmid from studies, json_each(studies.details) "
                                         "where value = 'Treatment-resistant depression'")}
    assert len(indexed) > 100 and indexed <= evidence <= detailed
    assert len(detailed - indexed) > 50  # found in the words of records without that heading


def test_retag_leaves_no_stale_tags(tmp_path, snapshot_db):
    path = tmp_path / "k.db"
    shutil.copy(snapshot_db, path)
    db = open_db(path)
    assert retag(db) == 2498
    first = db.execute("select count(*) from tags").fetchone()[0]
    gone = 32412700
    with db.atomic():
        for table in ("mesh_headings", "keywords", "article_authors", "abstract_sections", "publication_types",
                      "trial_registrations", "comments_corrections", "chemicals", "grants"):
            db.execute(f"delete from [{table}] where pmid = ?", [gone])
        db.execute("delete from articles where pmid = ?", [gone])
    assert retag(db, everything=True) == 2497
    assert db.execute("select count(*) from tags where pmid = ?", [gone]).fetchone()[0] == 0
    assert db.execute("select count(*) from studies").fetchone()[0] == 2497
    second = db.execute("select count(*) from tags").fetchone()[0]
    assert retag(db, everything=True) == 2497
    assert db.execute("select count(*) from tags").fetchone()[0] == second < first
    assert retag(db) == 0  # nothing out of date
    assert db.execute("select count(*) from tags where rule is null or rule = ''").fetchone()[0] == 0
    assert db.execute("select count(*) from tags where source in ('title', 'abstract') and "
                      "(matched is null or start is null)").fetchone()[0] == 0


def test_studies_hold_the_participant_count_to_sort_by(tmp_path, snapshot_db):
    """The count itself, beside its range: the abstracts that count in words (cited above), and
    no count where the abstract gives none."""
    path = tmp_path / "k.db"
    shutil.copy(snapshot_db, path)
    db = open_db(path)
    retag(db)
    counted = dict(db.execute("select pmid, participant_count from studies where pmid in (12044624, 12495789)"))
    assert counted == {12044624: 35, 12495789: 70}
    ranges = dict(db.execute("select participant_count, participants from studies "
                             "where pmid in (12044624, 12495789)"))
    assert ranges == {35: "21-40", 70: "61-80"}
    evidence = db.execute("select count(*) from tags where facet = 'participant_count'").fetchone()[0]
    assert evidence == db.execute("select count(*) from studies where participant_count is not null").fetchone()[0]
    assert 0 < evidence < 2498


def test_a_bin_and_its_count_agree_on_the_snapshot(tmp_path, snapshot_db):
    """TRANSFORM-3 (31734084) counts no one from "phase 3"; a year before a count ("2007, 31
    inpatients", 19935085) is no count; wherever a study has a count its bin is the count's
    (a review's pooled count keeps "Not applicable")."""
    path = tmp_path / "k.db"
    shutil.copy(snapshot_db, path)
    db = open_db(path)
    retag(db)
    counted = dict(db.execute("select pmid, participant_count from studies where pmid in (31734084, 19935085)"))
    assert counted == {31734084: None, 19935085: 31}
    rows = db.execute("select participant_count, participants from studies "
                      "where participant_count is not null and participants != 'Not applicable'").fetchall()
    assert len(rows) > 500
    assert [(n, b) for n, b in rows if counts.binned(n) != b] == []


def test_retag_in_worker_processes_writes_what_one_process_writes(tmp_path, snapshot_db):
    tables = {}
    for workers in (0, 2):
        path = tmp_path / f"w{workers}.db"
        shutil.copy(snapshot_db, path)
        db = open_db(path)
        assert retag(db, everything=True, workers=workers) == 2498
        tables[workers] = (
            db.execute("select pmid, facet, value, source, matched, start, [end], rule from tags "
                       "order by pmid, facet, value, source, rule").fetchall(),
            db.execute(f"select {', '.join(STUDY_COLUMNS)} from studies order by pmid").fetchall(),
            db.execute("select * from evidence_map order by 1, 2").fetchall())
        db.close()
    serial, parallel = tables[0], tables[2]
    assert serial[0] == parallel[0] and serial[2] == parallel[2] and len(serial[0]) > 10 * 2498
    stamp = list(STUDY_COLUMNS).index("tagged_at")  # (differs)
    assert [r[:stamp] + r[stamp + 1:] for r in serial[1]] == [r[:stamp] + r[stamp + 1:] for r in parallel[1]]


def test_anchor_prefilter_changes_no_tag(shared, snapshot_records):
    """The anchor pre-filter (pipeline/tagging/anchors.py) is only a speed-up: running every rule's regex
    over the whole text finds the same tags, on the gold abstracts and the ketamine snapshot."""
    from kaplit.pipeline.tagging.rules import KAP, TEXT_RULES, TWICE
    from kaplit.pipeline.tagging.tagger import (
        Tag,
        _details,
        _in_intervention,
        _negated,
        _notice,
        _participants,
        _title_routes,
    )

    def every_regex(title, abstract):
        tags = []
        for index, (facet, value, pattern, _) in enumerate(TEXT_RULES):
            for source, text in (("title", title), ("abstract", abstract)):
                found = [m for m in pattern.finditer(text) if source == "title" or not _negated(text, m) and (
                         index != KAP or _in_intervention(text, m))]
                match = found[0] if len(found) >= (2 if source == "abstract" and index in TWICE else 1) else None
                if match:
                    tags.append(Tag(facet, value, source, match.group(0), match.start(), match.end(),
                                    f"{facet}:{value}"))
                    break
        return _details(_title_routes(tags + _notice(title) + _participants(abstract, abstract.lower(), None)))

    with gzip.open(shared / "gold" / "dev.jsonl.gz", "rt") as handle:
        texts = [(row["title"] or "", row["abstract"] or "") for row in map(json.loads, handle)]
    texts += [(r.article["title"] or "", r.article["abstract"] or "") for r in snapshot_records.values()]
    tagger, compared = Tagger(linear=False), 0
    for title, abstract in texts:
        fast = tagger.rule_tags(title, abstract)
        assert fast == every_regex(title, abstract), title
        compared += len(fast)
    assert compared > 5 * len(texts)


def test_negation_scopes_are_those_of_the_regex(shared):
    """_split_negated tries NEGATED only where a negation word starts (a speed-up): it must blank
    out exactly what NEGATED.sub over the whole text would, on every gold title and abstract."""
    from kaplit.pipeline.tagging.linear import NEGATED, _split_negated, negation_cues
    from kaplit.pipeline.tagging.rules import ANCHORS, CUES

    def everywhere(lowered):
        negated = []

        def blank(match):
            negated.append(match.group(1))
            return " " * len(match.group(0))

        return NEGATED.sub(blank, lowered), " ".join(negated)

    with gzip.open(shared / "gold" / "dev.jsonl.gz", "rt") as handle:
        texts = [(row[field] or "").lower() for row in map(json.loads, handle) for field in ("title", "abstract")]
    assert [_split_negated(t) for t in texts] == [everywhere(t) for t in texts]
    assert sum(bool(everywhere(t)[1]) for t in texts) > 500
    # the tagger hands features() the negation words found in its own pass: the same places
    assert all([start for start, *_ in ANCHORS.spots(t).get(CUES, ())] == negation_cues(t) for t in texts)


def test_long_words_also_count_by_their_first_six_letters():
    """Hand-written sentence. "randomised" is `a:randomised` and `a*random` (one feature for
    randomised / randomized / randomly); the stem's evidence is the whole word it begins."""
    from kaplit.pipeline.tagging.linear import _locate, features

    abstract = "Adults with depression were randomised to ketamine or midazolam."
    found, views = features("Ketamine trial", abstract, [], {})
    assert {"a:randomised", "a*random", "a*depres", "a*midazo", "a*ketami"} <= set(found)
    assert "t*ketami" in found and "a*adults" not in found  # six letters or fewer: the word alone
    spot = _locate(found["a*random"], "a*random", views)
    assert (spot.source, spot.matched) == ("abstract", "randomised")
    assert abstract[spot.start:spot.end] == "randomised"


def test_features_read_through_the_vocabulary_are_those_training_sees(shared):
    """The tagger computes only the features the layer weighs (its vocabulary): on every gold
    record they must be exactly the weighed ones among those training computes."""
    from kaplit.pipeline.tagging.linear import LinearLayer, features
    from kaplit.pipeline.tagging.tagger import rule_labels

    layer, rules = LinearLayer.load(), Tagger(linear=False)
    with gzip.open(shared / "gold" / "dev.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for line in handle]
    stems = 0
    for row in rows:
        tags = rules.tag(row["title"], row["abstract"])
        every = features(row["title"], row["abstract"], tags, rule_labels(tags))[0]
        read = features(row["title"], row["abstract"], tags, rule_labels(tags), layer.vocabulary)[0]
        assert {f for f in read if f in layer.row} == {f for f in every if f in layer.row}, row["id"]
        stems += any(f[1] == "*" for f in read if f in layer.row)
    assert stems > len(rows) / 2


def test_words_are_those_the_regex_finds(shared, snapshot_records):
    """linear.words() (bytes.translate and split, for speed) cuts every gold and snapshot text
    into the words the plain regex finds, non-ASCII letters and leading hyphens included."""
    import re

    from kaplit.pipeline.tagging.linear import words

    regex = re.compile(r"[a-z0-9][a-z0-9\-]*")
    with gzip.open(shared / "gold" / "dev.jsonl.gz", "rt") as handle:
        texts = [text for row in map(json.loads, handle) for text in (row["title"], row["abstract"])]
    texts += [r.article[field] for r in snapshot_records.values() for field in ("title", "abstract")]
    texts += ["naïve -- --x (-12) a--b -"]  # hand-written: the edge cases in one line
    lowered = [(text or "").lower() for text in texts]
    assert all(words(text) == regex.findall(text) for text in lowered)
    assert words(lowered[-1]) == ["na", "ve", "x", "12", "a--b"]


def test_remembered_reasons_are_bounded_and_still_right(shared, monkeypatch):
    """A decision's reasons are remembered per (label, strongest features); with room for three
    the layer starts over as it must and every record gets the reasons it gets with no memory."""
    import kaplit.pipeline.tagging.linear

    with gzip.open(shared / "gold" / "dev.jsonl.gz", "rt") as handle:
        rows = [json.loads(line) for _, line in zip(range(40), handle)]
    def rules_of(tagger):
        return [[t.rule for t in tagger.tag(row["title"], row["abstract"])] for row in rows]

    fresh = rules_of(Tagger())
    monkeypatch.setattr(kaplit.pipeline.tagging.linear, "REASONS_REMEMBERED", 3)
    tagger = Tagger()
    assert rules_of(tagger) == fresh and len(tagger.linear.said) <= 3


def test_remembered_words_are_bounded_and_still_right():
    """WordFeatures remembers each word's feature names; past WORDS_REMEMBERED distinct words it
    starts over (memory stays bounded) and keeps answering the same."""
    from kaplit.pipeline.tagging.linear import WORDS_REMEMBERED, LinearLayer

    words = LinearLayer.load().vocabulary["a:"]
    first = words["randomised"]
    assert "a*random" in first
    for number in range(WORDS_REMEMBERED + 10):
        words[f"w{number}x"]
    assert len(words) <= WORDS_REMEMBERED and "randomised" not in words
    assert words["randomised"] == first and words["w1x"] == ()
