"""The served database file: Datasette's `Database` with its table pages ordered completely.

Datasette 0.65 pages through a sorted table by keyset: every page after the first continues from
the (sort value, primary key) of the last row shown, but the first page is ordered by the sort
column alone. Rows that tie on the sort column (every study without a publication date, every
study of one year) then come back in whatever order SQLite picks, and at the first page boundary
some are repeated and others never shown: on the snapshot, `studies.csv?_stream=on` gave 3,086 rows
holding 2,000 of the 2,498 studies. The table page's SQL always ends in
`order by <column>[ desc] limit <n>`; this adds the primary key as the tie-breaker that the later
pages already assume. SQL of any other shape runs as written.

And a label filter on a list column of `studies` (`conditions__arraycontains=Depression`) is
answered by the index alone: Datasette's own clause unpacks every candidate study's JSON list
(`:p0 in (select value from json_each("studies"."conditions"))`), while kaplit's filter
(web/plugins/labels.py) adds the same condition as an indexed lookup of `study_labels`. Where the
statement holds both, for the same column and label, Datasette's clause is dropped.
"""

from __future__ import annotations

import re

from datasette.database import Database
from datasette.utils import escape_sqlite

from kaplit.web.plugins.labels import FACET_PARAM, LABEL_PARAM

_TABLE_PAGE = re.compile(
    r"^select .+? from (?P<table>\[[^\]]+\]|[A-Za-z_]\w*) (?:where .+)?"
    r"order by (?P<order>[^,()]+?) limit (?P<limit>\d+)$", re.S)


class KaplitDatabase(Database):
    def __init__(self, ds, path, is_mutable: bool = False):
        super().__init__(ds, path=path, is_mutable=is_mutable)
        self._tie_breakers: dict[str, str] = {}

    async def execute(self, sql, params=None, *args, **kwargs):
        if isinstance(params, dict) and any(key.startswith(FACET_PARAM) for key in params):
            sql = _without_json_label_checks(sql, params)
        page = _TABLE_PAGE.match(sql)
        if page:
            tie_breaker = await self._tie_breaker(page["table"])
            if tie_breaker and tie_breaker not in page["order"]:
                sql = (sql[: page.start("order")] + f"{page['order']}, {tie_breaker} limit {page['limit']}")
        return await super().execute(sql, params, *args, **kwargs)

    async def _tie_breaker(self, table: str) -> str | None:
        name = table[1:-1] if table.startswith("[") else table
        if name not in self._tie_breakers:
            if not await self.table_exists(name):
                return None  # a view: Datasette pages over it by offset
            keys = await self.primary_keys(name)
            self._tie_breakers[name] = ", ".join(escape_sqlite(k) for k in keys) if keys else "rowid"
        return self._tie_breakers[name]


_JSON_LABEL_CHECK = re.compile(r':(p\d+) in \(select value from json_each\("studies"\."(\w+)"\)\)')


def _without_json_label_checks(sql: str, params: dict) -> str:
    """The statement without Datasette's JSON checks of the labels kaplit's indexed filter checks."""
    indexed = {(params[key], params[LABEL_PARAM + key.removeprefix(FACET_PARAM)])
               for key in params if key.startswith(FACET_PARAM)}

    def drop(check):
        return "1" if (check[2], params.get(check[1])) in indexed else check[0]

    return _JSON_LABEL_CHECK.sub(drop, sql)
