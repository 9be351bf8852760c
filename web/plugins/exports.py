"""Datasette output renderers for any table or query that has a pmid column: .ris and .bib
citations, and an .atom feed of the articles."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from kaplit.web.citations import bibtex, cell_value, load, ris
from kaplit.web.feeds import atom


def _can_render(columns):
    return "pmid" in (columns or [])


async def _articles(datasette, columns, rows, database):
    pmids = [cell_value(row["pmid"]) for row in rows if row["pmid"] is not None]
    return await load(datasette.get_database(database), pmids)


def _citations(formatter, content_type, extension):
    async def render(datasette, columns, rows, database, request):
        if "pmid" not in columns:
            return Response.text("Citations need a pmid column in the result.", status=400)
        articles = await _articles(datasette, columns, rows, database)
        name = (request.url_vars.get("table") or database) if request else database
        return Response(formatter(articles), content_type=content_type, headers={
            "content-disposition": f'attachment; filename="{name}.{extension}"'})

    return render


async def _feed(datasette, columns, rows, database, request, query_name, table):
    if "pmid" not in columns:
        return Response.text("A feed needs a pmid column in the result.", status=400)
    articles = await _articles(datasette, columns, rows, database)
    queries = datasette.metadata(database=database).get("queries", {}) if query_name else {}
    name = queries.get(query_name, {}).get("title") or query_name or table or database
    if request.args.get("condition"):
        name += f": {request.args['condition']}"
    document = atom(articles, f"kaplit — {name}", datasette.absolute_url(request, request.full_path),
                    lambda pmid: datasette.absolute_url(request, datasette.urls.path(f"/article/{pmid}")))
    return Response(document, content_type="application/atom+xml; charset=utf-8")


@hookimpl
def register_output_renderer(datasette):
    return [
        {"extension": "ris", "render": _citations(ris, "application/x-research-info-systems; charset=utf-8", "ris"),
         "can_render": _can_render},
        {"extension": "bib", "render": _citations(bibtex, "application/x-bibtex; charset=utf-8", "bib"),
         "can_render": _can_render},
        {"extension": "atom", "render": _feed, "can_render": _can_render},
    ]
