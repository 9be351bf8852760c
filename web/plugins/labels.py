"""Counting and filtering studies by label through `study_labels` (an index), not by unpacking
every matching study's JSON list.

- A `labels` facet (`facets: [{labels: conditions}]` in metadata.yml) counts a list column's
  labels among the page's studies from `study_labels`; its links filter with Datasette's own
  `conditions__arraycontains=...`, so addresses and bookmarks stay as they were.
- Such a filter also gets `pmid IN (the label's studies)`: SQLite then reads the matching studies
  by primary key, and Datasette's own JSON check runs on those alone.
A facet whose count runs out of time is named as such on the page (Datasette's "timed out").
"""

from __future__ import annotations

from datasette import hookimpl
from datasette.database import QueryInterrupted
from datasette.facets import Facet
from datasette.filters import FilterArguments
from datasette.utils import path_with_added_args, path_with_removed_args

from kaplit.pipeline.tagging.taxonomy import LABELLED_COLUMNS

LABELLED_TABLE = "studies"
FILTER = "__arraycontains"


class LabelFacet(Facet):
    type = "labels"

    async def suggest(self):
        return []  # declared in metadata.yml, never suggested

    async def facet_results(self):
        results, timed_out = [], []
        for config in self.get_configs():
            column = config["config"]["simple"]
            try:
                rows = (await self.ds.execute(
                    self.database, self._count_sql(), {**dict(self.params or {}), "kaplit_facet": column},
                    truncate=False, custom_time_limit=self.ds.setting("facet_time_limit_ms"))).rows
            except QueryInterrupted:
                timed_out.append(column)
                continue
            results.append(self._result(column, config["source"], rows))
        return results, timed_out

    def _count_sql(self) -> str:
        among = "" if " where " not in self.sql.lower() else f"and pmid in (select pmid from ({self.sql}))"
        return (f"select label, count(*) as count from study_labels where facet = :kaplit_facet {among} "
                f"group by label order by count(*) desc, label limit {self.get_facet_size() + 1}")

    def _result(self, column: str, source: str, rows) -> dict:
        size, pairs = self.get_facet_size(), self.get_querystring_pairs()
        values = []
        for label, count in rows[:size]:
            selected = (column + FILTER, label) in pairs
            change = path_with_removed_args if selected else path_with_added_args
            values.append({"value": label, "label": label, "count": count, "selected": selected,
                           "toggle_url": self.ds.absolute_url(self.request, change(self.request,
                                                                                   {column + FILTER: label}))})
        return {"name": column, "type": self.type, "results": values, "hideable": source != "metadata",
                "toggle_url": self.ds.urls.path(path_with_removed_args(self.request, {"_facet_labels": column})),
                "truncated": len(rows) > size}


@hookimpl
def register_facet_classes():
    return [LabelFacet]


@hookimpl
def filters_from_request(request, database, table, datasette):
    if table != LABELLED_TABLE:
        return None
    clauses, params = [], {}
    filters = [(key.removesuffix(FILTER), value) for key in request.args.keys() if key.endswith(FILTER)
               for value in request.args.getlist(key)]
    for number, (column, label) in enumerate(filters):
        if column in LABELLED_COLUMNS:
            clauses.append(f"pmid in (select pmid from study_labels where facet = :kaplit_lf{number} "
                           f"and label = :kaplit_ll{number})")
            params.update({f"kaplit_lf{number}": column, f"kaplit_ll{number}": label})
    return FilterArguments(clauses, params=params) if clauses else None
