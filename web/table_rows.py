"""The HTML tables of table pages and queries, and the facets of a studies page, written in Python.

Datasette 0.65's templates write each cell, header and facet value through the async Jinja
template, several output chunks apiece: on a studies page of 20 rows by 24 columns with 200 facet
values that was most of the page's time. `web/templates/_table.html`, `query.html` and
`_facet_results.html` keep Datasette's markup and ask this module for the header (its sort links
made from the address parsed once, not once a column), the rows (cells escaped as Jinja escapes
them) and the facets. Titles and PMIDs link to their article page here too: a render_cell hook,
called for every cell of every page, cost a millisecond a page.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, urlencode

from datasette.utils import path_with_replaced_args, to_css_class
from markupsafe import Markup, escape


def table_rows(display_rows, article_url) -> Markup:
    html = []
    for row in display_rows:
        pmid = next((_pmid(cell["raw"]) for cell in row if cell["column"] == "pmid"), None)
        html.append("<tr>")
        for cell in row:
            column, shown = cell["column"], cell["value"]
            shown = _linked(shown, pmid, article_url) if column in LINKED else escape(shown)
            html.append(f'<td class="col-{_css_class(column)} type-{cell["value_type"]}">{shown}</td>')
        html.append("</tr>\n")
    return Markup("".join(html))


def query_rows(columns, display_rows, article_url) -> Markup:
    classes = [_css_class(column) for column in columns]
    at = columns.index("pmid") if "pmid" in columns else None
    html = []
    for row in display_rows:
        pmid = _pmid(row[at]) if at is not None else None
        html.append("<tr>")
        html += [f'<td class="col-{css}">{_linked(td, pmid, article_url) if c in LINKED else escape(td)}</td>'
                 for css, c, td in zip(classes, columns, row)]
        html.append("</tr>\n")
    return Markup("".join(html))


LINKED = frozenset(("title", "pmid"))  # the columns that link to the article page


def _linked(shown, pmid: int | None, article_url) -> Markup:
    """A title or PMID cell as shown, linked to the article page (not a PMID that is the table's
    own key, which Datasette links to its row)."""
    if pmid is None or isinstance(shown, Markup):  # Markup: empty, key, link
        return escape(shown)
    return Markup(f'<a href="{article_url(pmid)}">{escape(shown)}</a>')


def _pmid(value) -> int | None:
    """A row's PMID: the number, or the text of the key link Datasette makes of it."""
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


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
