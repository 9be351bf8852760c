"""The default PubMed query for kaplit, term by term.

    ketamine[MeSH Terms]      the MeSH descriptor (D007649), which PubMed explodes; catches
                              indexed records whatever words the abstract uses
    ketamine[tiab]            new and in-process records carry no MeSH for months, and some
                              journals are never indexed: the word in title/abstract covers them
    esketamine[tiab], esketamine[Supplementary Concept]
                              the S-enantiomer (Spravato), a supplementary concept, not a MeSH
                              descriptor, so it needs its own terms
    arketamine[tiab], "R-ketamine"[tiab], "S-ketamine"[tiab]
                              the enantiomers as authors write them in preclinical work
    spravato[tiab], ketalar[tiab]
                              brand names used in clinical reports without the generic name
    "ketamine-assisted"[tiab], "ketamine assisted"[tiab]
                              ketamine-assisted psychotherapy (KAP) studies, named either way

Override it with `kaplit crawl --query`.
"""

DEFAULT_QUERY = (
    'ketamine[MeSH Terms] OR ketamine[tiab] OR esketamine[tiab] OR "esketamine"[Supplementary Concept] '
    'OR arketamine[tiab] OR "R-ketamine"[tiab] OR "S-ketamine"[tiab] OR spravato[tiab] OR ketalar[tiab] '
    'OR "ketamine-assisted"[tiab] OR "ketamine assisted"[tiab]'
)
