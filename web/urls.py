"""Where things are on the served site."""

from __future__ import annotations

import re

from datasette.utils.asgi import NotFound


def kaplit_database(datasette) -> str:
    """The served kaplit database (kaplit serves one database file)."""
    for name, database in datasette.databases.items():
        if not database.is_memory and name != "_internal":
            return name
    raise NotFound("No kaplit database is being served.")


def article_url(datasette, pmid) -> str:
    return datasette.urls.path(f"/article/{pmid}")


# the formats Datasette and kaplit's renderers answer in besides HTML
DATA_EXTENSION = re.compile(r"\.(json|csv|tsv|ris|bib|atom|db)$")
FORMAT_ARGUMENT = re.compile(r"(^|&)_format=")  # read from the query string: parsing it costs more


def is_html_request(request) -> bool:
    return not FORMAT_ARGUMENT.search(request.query_string) and not DATA_EXTENSION.search(request.path)
