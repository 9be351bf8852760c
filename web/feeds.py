"""Atom feeds of articles, so that a clinician can follow a condition or a search.

Written on feedgen rather than with the datasette-atom plugin: that plugin expects the query to
spell out atom_id/atom_title/atom_updated columns with timezone-aware dates, and fails with a
server error on an empty result (it takes max() of the rows' dates), which is the normal state of a
feed for a condition with no new records.
"""

from __future__ import annotations

from datetime import datetime, timezone

from feedgen.feed import FeedGenerator

from kaplit.web.citations import PUBMED_URL

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def updated(article: dict) -> datetime:
    """When the record entered PubMed (or this database, for records without that date)."""
    for value in (article.get("entrez_date"), article.get("ingested_at")):
        if value:
            stamp = datetime.fromisoformat(value)
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
    return EPOCH


def atom(articles: list[dict], title: str, feed_url: str, article_url) -> bytes:
    """An Atom document with one entry per article, in the given order (the query's: newest
    first); `article_url(pmid)` gives the absolute address of an article's page."""
    feed = FeedGenerator()
    feed.id(feed_url)
    feed.title(title)
    feed.link(href=feed_url, rel="self")
    feed.updated(max((updated(a) for a in articles), default=EPOCH))
    for article in reversed(articles):  # feedgen prepends each entry
        entry = feed.add_entry()
        entry.id(PUBMED_URL.format(article["pmid"]))
        entry.title(article["title"] or f"PMID {article['pmid']}")
        entry.link(href=article_url(article["pmid"]))
        entry.updated(updated(article))
        if article["abstract"]:
            entry.summary(article["abstract"])
        for author in article["authors"][:10]:
            name = author["collective_name"] or " ".join(
                p for p in (author["fore_name"] or author["initials"], author["last_name"]) if p)
            if name:
                entry.author({"name": name})
    return feed.atom_str(pretty=True)
