"""The body of every table page's HTML table, written in Python.

Datasette's `_table.html` writes each cell through the async Jinja template, five output
chunks per cell: on a studies page of 20 rows by 24 columns that was a third of the page's time
(13 ms). `web/templates/_table.html` keeps Datasette's header (sort links) and markup, and asks
this function for the rows: the same `<td class="col-... type-...">` cells, escaped as Jinja
would escape them.
"""

from __future__ import annotations

from functools import lru_cache

from datasette.utils import to_css_class
from markupsafe import Markup, escape


def table_rows(display_rows) -> Markup:
    html = []
    for row in display_rows:
        html.append("<tr>")
        html += [f'<td class="col-{_css_class(cell["column"])} type-{cell["value_type"]}">{escape(cell["value"])}</td>'
                 for cell in row]
        html.append("</tr>\n")
    return Markup("".join(html))


@lru_cache(maxsize=1024)
def _css_class(column: str) -> str:
    return to_css_class(column)
