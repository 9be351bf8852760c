"""The clinician-facing pages: the landing page at / (templates/landing.html) and one page per
article at /article/{pmid}, to which titles and PMIDs in every table and query link
(web/table_rows.py)."""

from __future__ import annotations

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response

from kaplit.web.article import load_article
from kaplit.web.landing import landing_context
from kaplit.web.table_rows import facet_results, query_rows, table_header, table_rows
from kaplit.web.taxonomy import served_tagger, taxonomy_context
from kaplit.web.urls import article_url, kaplit_database


@hookimpl
def extra_template_vars(template, datasette):
    return {"article_url": lambda pmid: article_url(datasette, pmid), "table_rows": table_rows,
            "table_header": table_header, "query_rows": query_rows, "facet_results": facet_results}


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


async def landing_page(datasette, request):
    """Replaces Datasette's index page, which also costs a metadata deep copy per table."""
    scope = "ketamine" if request.args.get("ketamine") == "1" else "all"
    context = await landing_context(datasette, kaplit_database(datasette), scope)
    context["metadata"] = datasette.metadata()
    return Response.html(await datasette.render_template("landing.html", context, request=request))


async def taxonomy_page(datasette, request):
    version, model = await served_tagger(datasette.get_database(kaplit_database(datasette)))
    context = taxonomy_context(version, model)
    return Response.html(await datasette.render_template("taxonomy.html", context, request=request))


@hookimpl
def register_routes():
    return [(r"^/$", landing_page), (r"^/article/(?P<pmid>\d{1,9})$", article_page),
            (r"^/taxonomy$", taxonomy_page)]
