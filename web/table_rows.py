"""The body of every table page's and query's HTML table, and its facets' values, written in Python.

Datasette's `_table.html` writes each cell through the async Jinja template, five output
chunks per cell: on a studies page of 20 rows by 24 columns that was a third of the page's time
(13 ms). `web/templates/_table.html` keeps Datasette's header and markup, and asks this module
for the rows (the same `<td class="col-... type-...">` cells, escaped as Jinja would escape them)
and for the header's sort links (the address parsed once, not once a column).
`web/templates/query.html` does the same for the results of a query (the search shows a hundred
rows), and `web/templates/_facet_results.html` for the two hundred facet values of a studies page.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from datasette.utils import path_with_replaced_args, to_css_class
from markupsafe import Markup, escape


def table_rows(display_rows) -> Markup:
    html = []
    for row in display_rows:
        html.append("<tr>")
        html += [f'<td class="col-{_css_class(cell["column"])} type-{cell["value_type"]}">{escape(cell["value"])}</td>'
                 for cell in row]
        html.append("</tr>\n")
    return Markup("".join(html))


def query_rows(columns, display_rows) -> Markup:
    classes = [_css_class(column) for column in columns]
    html = []
    for row in display_rows:
        html.append("<tr>")
        html += [f'<td class="col-{css}">{escape(td)}</td>' for css, td in zip(classes, row)]
        html.append("</tr>\n")
    return Markup("".join(html))


def table_header(columns, request, sort, sort_desc, fix_path) -> Markup:
    """The header cells, each column's name a link that sorts by it (Datasette's markup)."""
    cells = []
    for column in columns:
        name = column["name"]
        label = escape(name)
        if column.get("sortable"):
            descending = name == sort
            arrow = "&nbsp;▼" if descending else "&nbsp;▲" if name == sort_desc else ""
            link = escape(fix_path(sort_link(request, name, descending)))
            label = f'<a href="{link}" rel="nofollow">{label}{arrow}</a>'
        described = f'data-column-description="{escape(column["description"])}" ' if column.get("description") else ""
        cells.append(f'<th {described}class="col-{_css_class(name)}" scope="col" data-column="{escape(name)}" '
                     f'data-column-type="{escape(column["type"].lower())}" data-column-not-null="{column["notnull"]}" '
                     f'data-is-pk="{1 if column["is_pk"] else 0}">{label}</th>')
    return Markup("\n".join(cells))


def sort_link(request, column: str, descending: bool) -> str:
    """The page sorted by `column`, as Datasette's path_with_replaced_args writes it."""
    kept = request.scope.get("kaplit_sort_kept")
    if kept is None:
        pairs = [(k, v) for k, v in parse_qsl(request.query_string) if k not in ("_sort", "_sort_desc", "_next")]
        kept = request.scope["kaplit_sort_kept"] = urlencode(pairs) + "&" if pairs else ""
    return f"{request.path}?{kept}{urlencode([('_sort_desc' if descending else '_sort', column)])}"


@lru_cache(maxsize=1024)
def _css_class(column: str) -> str:
    return to_css_class(column)


def facet_results(database: str, table: str, facets, request) -> Markup:
    """Each facet's name, its count of values, the cross that hides it, its values, and "…"
    for all of them when they were cut short (Datasette's markup)."""
    html = ['<div class="facet-results">']
    for facet in facets:
        name, css = facet["name"], _css_class(facet["name"])
        kind = f' ({escape(facet["type"])})' if facet["type"] != "column" else ""
        more = "&gt;" if facet["truncated"] else ""
        html.append(f'<div class="facet-info facet-{_css_class(database)}-{_css_class(table)}-{css}" id="facet-{css}" '
                    f'data-column="{escape(name)}">\n<p class="facet-info-name"><strong>{escape(name)}{kind} '
                    f'<span class="facet-info-total">{more}{len(facet["results"])}</span></strong>')
        if facet["hideable"]:
            html.append(f' <a href="{escape(facet["toggle_url"])}" class="cross">&#x2716;</a>')
        html.append('</p>\n<ul class="tight-bullets">\n')
        html.append(facet_values(facet["results"]))
        if facet["truncated"]:
            everything = (f'<a href="{escape(path_with_replaced_args(request, {"_facet_size": "max"}))}">…</a>'
                          if request.args.get("_facet_size") != "max" else "…")
            html.append(f'\n<li class="facet-truncated">{everything}</li>')
        html.append("\n</ul>\n</div>")
    html.append("</div>")
    return Markup("\n".join(html))


def facet_values(results) -> Markup:
    """A facet's values as Datasette's `_facet_results.html` lists them: a link that adds the
    filter, or for a value filtered by, the value and a cross that removes it."""
    html = []
    for value in results:
        url, count = escape(value["toggle_url"]), f"{value['count']:,}"
        if value["selected"]:
            label = escape(value["label"]) if value["label"] else "-"
            html.append(f'<li>{label} &middot; {count} <a href="{url}" class="cross">&#x2716;</a></li>')
        else:
            html.append(f'<li><a href="{url}">{escape(str(value["label"])) or "-"}</a> {count}</li>')
    return Markup("\n".join(html))
