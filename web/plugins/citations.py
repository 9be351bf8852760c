"""Datasette output renderers: .ris and .bib for any table or query that has a pmid column."""

from datasette import hookimpl
from datasette.utils.asgi import Response

from web.citations import bibtex, load, ris


def _can_render(columns):
    return "pmid" in (columns or [])


def _renderer(formatter, content_type, extension):
    async def render(datasette, columns, rows, database, request):
        if "pmid" not in columns:
            return Response.text("Citations need a pmid column in the result.", status=400)
        pmids = [row["pmid"] for row in rows if row["pmid"] is not None]
        articles = await load(datasette.get_database(database), pmids)
        name = (request.url_vars.get("table") or database) if request else database
        return Response(formatter(articles), content_type=content_type, headers={
            "content-disposition": f'attachment; filename="{name}.{extension}"'})

    return render


@hookimpl
def register_output_renderer(datasette):
    return [
        {"extension": "ris", "render": _renderer(ris, "application/x-research-info-systems; charset=utf-8", "ris"),
         "can_render": _can_render},
        {"extension": "bib", "render": _renderer(bibtex, "application/x-bibtex; charset=utf-8", "bib"),
         "can_render": _can_render},
    ]
