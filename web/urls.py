"""Where things are on the served site."""

from __future__ import annotations

from datasette.utils.asgi import NotFound


def kaplit_database(datasette) -> str:
    """The served kaplit database (kaplit serves one database file)."""
    for name, database in datasette.databases.items():
        if not database.is_memory and name != "_internal":
            return name
    raise NotFound("No kaplit database is being served.")


def article_url(datasette, pmid) -> str:
    return datasette.urls.path(f"/article/{pmid}")
