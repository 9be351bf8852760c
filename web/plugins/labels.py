"""Counting and filtering studies by label through `study_labels` (an index), not by unpacking
every matching study's JSON list.

- A `labels` facet (`facets: [{labels: conditions}]` in metadata.yml) counts a list column's
  labels among the page's studies from `study_labels`; its links filter with Datasette's own
  `conditions__arraycontains=...`, so addresses and bookmarks stay as they were. A `counts` facet
  counts single-valued columns (design, year, journal, flags) like Datasette's column facet, but
  all of them in one pass over the page's studies. Either kind counts all its columns in one
  statement: a page's eleven facets cost two reads of its studies, not eleven.
- Such a filter also gets `pmid IN (the label's studies)`: SQLite then reads the matching studies
  by primary key, and Datasette's own JSON check of the same label is dropped (web/database.py).
A facet whose count runs out of time is named as such on the page (Datasette's "timed out").
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.utils import escape_sqlite, path_with_added_args, path_with_removed_args

from kaplit.pipeline.tagging.taxonomy import LABELLED_COLUMNS

LABELLED_TABLE = "studies"
FILTER = "__arraycontains"
# the parameters of the indexed clause: FACET_PARAM + n names the column, LABEL_PARAM + n the label
FACET_PARAM, LABEL_PARAM = "kaplit_lf", "kaplit_ll"


class OnePassFacet(Facet):
    """A facet class that counts all the columns configured with it in one SQL statement over the
    page's studies (read once into a temporary table), instead of one scan of them per column."""

    async def suggest(self):
        return []  # declared in metadata.yml, never suggested

    async def facet_results(self):
        configs = {config["config"]["simple"]: config["source"] for config in self.get_configs()}
        if not configs:
            return [], []
        sql, params = self.counting_sql(list(configs))
        try:
            rows = (await self.ds.execute(self.database, sql, {**dict(self.params or {}), **params}, truncate=False,
                                          custom_time_limit=self.ds.setting("facet_time_limit_ms"))).rows
        except QueryInterrupted:
            return [], list(configs)
        counted: dict[str, list] = {column: [] for column in configs}
        for column, value, count in rows:
            counted[column].append((value, count))
        return [self._result(column, source, sorted(counted[column], key=_most_first))
                for column, source in configs.items()], []

    def filtered(self) -> bool:
        return " where " in self.sql.lower()

    def _result(self, column: str, source: str, counts: list) -> dict:
        size, pairs = self.get_facet_size(), self.get_querystring_pairs()
        values = []
        for value, count in counts[:size]:
            key, shown = self.filter_for(column, value)
            selected = (key, shown) in pairs
            change = path_with_removed_args if selected else path_with_added_args
            values.append({"value": value, "label": value if value is not None else "None", "count": count,
                           "selected": selected,
                           "toggle_url": self.ds.absolute_url(self.request, change(self.request, {key: shown}))})
        return {"name": column, "type": self.type, "results": values, "hideable": source != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {f"_facet_{self.type}": column})),
                "truncated": len(counts) > size}


def _most_first(value_count):
    value, count = value_count
    return -count, value is None, str(value)


class LabelFacet(OnePassFacet):
    """Labels of the list columns, counted from `study_labels`."""

    type = "labels"

    def counting_sql(self, columns):
        marks = ", ".join(f":kaplit_facet{n}" for n in range(len(columns)))
        params = {f"kaplit_facet{n}": column for n, column in enumerate(columns)}
        if not self.filtered():
            return f"select facet, label, count(*) from study_labels where facet in ({marks}) group by 1, 2", params
        return (f"with page as materialized (select pmid from ({self.sql})) select l.facet, l.label, count(*) "
                f"from page join study_labels l indexed by study_labels_pmid on l.pmid = page.pmid "
                f"where l.facet in ({marks}) group by 1, 2", params)

    def filter_for(self, column, value):
        return column + FILTER, value


class CountsFacet(OnePassFacet):
    """Single-valued columns (design, year, journal, flags), counted in one pass."""

    type = "counts"

    def counting_sql(self, columns):
        names = ", ".join(escape_sqlite(c) for c in columns)
        if not self.filtered():  # each column's own index answers
            return " union all ".join(f"select * from (select '{c}', {escape_sqlite(c)}, count(*) "
                                      f"from ({self.sql}) group by 2)" for c in columns), {}
        counts = " union all ".join(f"select '{c}', {escape_sqlite(c)}, count(*) from page group by 2"
                                    for c in columns)
        return f"with page as materialized (select {names} from ({self.sql})) {counts}", {}

    def filter_for(self, column, value):
        return (f"{column}__isnull", "1") if value is None else (column, str(value))


@hookimpl
def register_facet_classes():
    return [LabelFacet, CountsFacet]


@hookimpl
def filters_from_request(request, database, table, datasette):
    if table != LABELLED_TABLE:
        return None
    clauses, params = [], {}
    filters = [(key.removesuffix(FILTER), value) for key in request.args.keys() if key.endswith(FILTER)
               for value in request.args.getlist(key)]
    for number, (column, label) in enumerate(filters):
        if column in LABELLED_COLUMNS:
            clauses.append(f"pmid in (select pmid from study_labels where facet = :{FACET_PARAM}{number} "
                           f"and label = :{LABEL_PARAM}{number})")
            params.update({f"{FACET_PARAM}{number}": column, f"{LABEL_PARAM}{number}": label})
    return FilterArguments(clauses, params=params) if clauses else None
