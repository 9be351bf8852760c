"""The clinician-facing pages: the landing page (templates/index.html), one page per article at
/article/{pmid}, and titles/PMIDs in every table and query linked to that page."""

from __future__ import annotations

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup, escape

from web.article import load_article
from web.landing import landing_context


def kaplit_database(datasette) -> str:
    """The served kaplit database (kaplit serves one database file)."""
    for name, database in datasette.databases.items():
        if not database.is_memory and name != "_internal":
            return name
    raise NotFound("No kaplit database is being served.")


def article_url(datasette, pmid) -> str:
    return datasette.urls.path(f"/article/{pmid}")


@hookimpl
def extra_template_vars(template, datasette):
    async def variables():
        extra = {"article_url": lambda pmid: article_url(datasette, pmid)}
        if template == "index.html":
            extra.update(await landing_context(datasette, kaplit_database(datasette)))
        return extra

    return variables


@hookimpl
def extra_css_urls(datasette):
    return [datasette.urls.path("/kaplit-static/kaplit.css")]


async def article_page(datasette, request):
    pmid = int(request.url_vars["pmid"])
    database = kaplit_database(datasette)
    context = await load_article(datasette.get_database(database), pmid)
    if context is None:
        raise NotFound(f"PMID {pmid} is not in this database.")
    context.update(database=database, pmid=pmid)
    return Response.html(await datasette.render_template("article.html", context, request=request))


@hookimpl
def register_routes():
    return [(r"^/article/(?P<pmid>\d{1,9})$", article_page)]


@hookimpl
def render_cell(row, value, column, datasette):
    """Titles link to the article page; so do PMIDs in query results (tables link their
    primary key already)."""
    keys = row.keys() if hasattr(row, "keys") else ()
    pmid = row["pmid"] if "pmid" in keys else None
    if isinstance(pmid, dict):  # a foreign key Datasette expanded to {"value", "label"}
        pmid = pmid["value"]
    if pmid is None or value is None:
        return None
    if column == "title":
        return Markup(f'<a href="{article_url(datasette, pmid)}">{escape(value)}</a>')
    if column == "pmid" and isinstance(value, int):
        return Markup(f'<a href="{article_url(datasette, value)}">{value}</a>')
    return None
