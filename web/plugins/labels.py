"""Counting and filtering studies by label: facets counted from bitmaps in memory, filters
through the indexed `study_labels`, never by unpacking every matching study's JSON list.

- A `labels` facet (`facets: [{labels: conditions}]` in metadata.yml) counts a list column's
  labels among the page's studies; its links filter with Datasette's own
  `conditions__arraycontains=...`, so addresses and bookmarks stay as they were. A `counts` facet
  counts single-valued columns (design, year, journal, flags) like Datasette's column facet.
  Both count from the database's `study_bitmaps` (db/bitmaps.py): the page's studies as one
  bitmap, intersected with each value's. The page's set comes from the same bitmaps when every
  filter of the address is one they answer (labels, values, year ranges, nulls), else from one
  read of the page's PMIDs (full-text search, `_where`, ...), shared by all the page's facets.
- A label filter also gets `pmid IN (the label's studies)`: SQLite then reads the matching studies
  by primary key, and Datasette's own JSON check of the same label is dropped (web/database.py).
A facet whose count runs out of time is named as such on the page (Datasette's "timed out").
"""

from __future__ import annotations

import sqlite3
import urllib.parse

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.utils import escape_sqlite, path_with_removed_args, sqlite_timelimit
from pyroaring import BitMap

from kaplit.pipeline.tagging.taxonomy import LABELLED_COLUMNS
from kaplit.web.page_studies import PAGE_PARAM

LABELLED_TABLE = "studies"
FILTER = "__arraycontains"
# the parameters of the indexed clause: FACET_PARAM + n names the column, LABEL_PARAM + n the label
FACET_PARAM, LABEL_PARAM = "kaplit_lf", "kaplit_ll"


class OnePassFacet(Facet):
    """A facet class that counts every column configured with it at once: on the studies page from
    the bitmaps, on an unfiltered page of another table from `column_counts` (counted at retag),
    else in one SQL statement over the page's rows."""

    async def suggest(self):
        return []  # declared in metadata.yml, never suggested

    async def facet_results(self):
        configs = {config["config"]["simple"]: config["source"] for config in self.get_configs()}
        if not configs:
            return [], []
        try:
            counted = await self.counted(list(configs))
        except (sqlite3.OperationalError, QueryInterrupted):  # the facet time limit
            return [], list(configs)
        return [self._result(column, source, counted[column]) for column, source in configs.items()], []

    async def counted(self, columns: list[str]) -> dict[str, list[tuple]]:
        database = self.ds.get_database(self.database)
        counted = {}
        if self.table == LABELLED_TABLE and getattr(database, "page_sets", None):  # immutable: bitmaps hold
            bitmaps = await database.study_bitmaps()
            among = await self.page_studies()
            counted = {column: sorted(bitmaps.counts(column, among), key=most_first)
                       for column in columns if column in bitmaps.values}
        elif not self.filtered():
            counted = await self.summarised(columns)
        rest = [column for column in columns if column not in counted]
        if rest:
            rows = (await self.ds.execute(self.database, *self.counting_sql(rest), truncate=False,
                                          custom_time_limit=self.ds.setting("facet_time_limit_ms"))).rows
            counted.update(_by_column(rows, rest))
        return counted

    async def summarised(self, columns: list[str]) -> dict[str, list[tuple]]:
        marks = ", ".join("?" * len(columns))
        rows = (await self.ds.execute(self.database, f"select column_name, value, count from column_counts "
                                      f"where table_name = ? and column_name in ({marks})",
                                      [self.table, *columns])).rows
        return _by_column(rows, {row[0] for row in rows})

    async def page_studies(self) -> BitMap | None:
        """The page's studies (None: all of them): the set its filter carries (web/page_studies.py),
        else read once per request for all its facets."""
        if not self.filtered():
            return None
        page_sets = self.ds.get_database(self.database).page_sets
        carried = page_sets.of(self.params) if page_sets else None
        if carried is not None:
            return carried
        known = self.request.scope.setdefault("kaplit_page_studies", {})
        if self.sql not in known:
            known[self.sql] = await self.ds.get_database(self.database).execute_fn(self._read_pmids)
        return known[self.sql]

    def _read_pmids(self, conn) -> BitMap:
        with sqlite_timelimit(conn, self.ds.setting("facet_time_limit_ms")):
            return BitMap(pmid for (pmid,) in conn.execute(f"select pmid from ({self.sql})", dict(self.params or {})))

    def filtered(self) -> bool:
        return " where " in self.sql.lower()

    def _result(self, column: str, source: str, counts: list) -> dict:
        size, links = self.get_facet_size(), ToggleLinks.of(self.ds, self.request)
        values = []
        for value, count in counts[:size]:
            key, shown = self.filter_for(column, value)
            selected = (key, shown) in links.selected
            values.append({"value": value, "label": value if value is not None else "None", "count": count,
                           "selected": selected, "toggle_url": links.toggled(key, shown, selected)})
        return {"name": column, "type": self.type, "results": values, "hideable": source != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {f"_facet_{self.type}": column})),
                "truncated": len(counts) > size}


class ToggleLinks:
    """The page's absolute address with one filter added or removed, as Datasette's
    path_with_added_args, path_with_removed_args and absolute_url write it, with the address
    parsed, encoded and made absolute once per request instead of once per value (a page's 300
    facet links cost 10 ms that way)."""

    def __init__(self, datasette, request):
        self.path = datasette.absolute_url(request, request.path)
        self.pairs = urllib.parse.parse_qsl(request.query_string)
        self.encoded = urllib.parse.urlencode(self.pairs)
        self.selected = set(urllib.parse.parse_qsl(request.query_string, keep_blank_values=True))

    @classmethod
    def of(cls, datasette, request) -> "ToggleLinks":
        """The request's links (made at its first facet)."""
        links = request.scope.get("kaplit_toggle_links")
        if links is None:
            links = request.scope["kaplit_toggle_links"] = cls(datasette, request)
        return links

    def toggled(self, key: str, value: str, selected: bool) -> str:
        if selected:
            remaining = urllib.parse.urlencode([pair for pair in self.pairs if pair != (key, value)])
            return f"{self.path}?{remaining}" if remaining else self.path
        added = urllib.parse.urlencode([(key, value)])
        return f"{self.path}?{self.encoded}&{added}" if self.encoded else f"{self.path}?{added}"


def most_first(value_count):
    value, count = value_count
    return -count, value is None, str(value)


def _by_column(rows, columns) -> dict[str, list[tuple]]:
    """(column, value, count) rows as each column's (value, count) pairs, most first."""
    return {column: sorted(((v, n) for c, v, n in rows if c == column), key=most_first) for column in columns}


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


class LabelFacet(OnePassFacet):
    """Labels of the list columns (JSON arrays)."""

    type = "labels"

    def counting_sql(self, columns):
        counts = " union all ".join(f"select {_literal(c)}, j.value, count(*) from page, "
                                    f"json_each(page.{escape_sqlite(c)}) j group by 2" for c in columns)
        names = ", ".join(escape_sqlite(c) for c in columns)
        return f"with page as materialized (select {names} from ({self.sql})) {counts}", dict(self.params or {})

    def filter_for(self, column, value):
        return column + FILTER, value


class CountsFacet(OnePassFacet):
    """Single-valued columns (design, year, journal, flags)."""

    type = "counts"

    def counting_sql(self, columns):
        counts = " union all ".join(f"select {_literal(c)}, {escape_sqlite(c)}, count(*) from page group by 2"
                                    for c in columns)
        names = ", ".join(escape_sqlite(c) for c in columns)
        return f"with page as materialized (select {names} from ({self.sql})) {counts}", dict(self.params or {})

    def filter_for(self, column, value):
        return (f"{column}__isnull", "1") if value is None else (column, str(value))


@hookimpl
def register_facet_classes():
    return [LabelFacet, CountsFacet]


@hookimpl
def startup(datasette):
    async def read_bitmaps():
        for database in datasette.databases.values():
            if hasattr(database, "study_bitmaps"):
                await database.study_bitmaps()
    return read_bitmaps


@hookimpl
def filters_from_request(request, database, table, datasette):
    if table != LABELLED_TABLE:
        return None
    page_sets = getattr(datasette.get_database(database), "page_sets", None)
    page = page_sets.name(request) if page_sets else None
    clauses, params = [], {PAGE_PARAM: page} if page else {}
    filters = [(key.removesuffix(FILTER), value) for key in request.args.keys() if key.endswith(FILTER)
               for value in request.args.getlist(key)]
    for number, (column, label) in enumerate(filters):
        if column in LABELLED_COLUMNS:
            clauses.append(f"pmid in (select pmid from study_labels where facet = :{FACET_PARAM}{number} "
                           f"and label = :{LABEL_PARAM}{number})")
            params.update({f"{FACET_PARAM}{number}": column, f"{LABEL_PARAM}{number}": label})
    return FilterArguments(clauses, params=params) if params else None
