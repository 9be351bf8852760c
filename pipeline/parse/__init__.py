"""Parsing: PubMed XML (efetch, baseline, update files) and MEDLINE text into `Article` records,
normalized (dates, DOIs, registry ids, markup)."""
