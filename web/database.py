"""The served database file: Datasette's `Database` with its table pages ordered completely.

Datasette 0.65 pages through a sorted table by keyset: every page after the first continues from
the (sort value, primary key) of the last row shown, but the first page is ordered by the sort
column alone. Rows that tie on the sort column (every study without a publication date, every
study of one year) then come back in whatever order SQLite picks, and at the first page boundary
some are repeated and others never shown: on the snapshot, `studies.csv?_stream=on` gave 3,086 rows
holding 2,000 of the 2,498 studies. The table page's SQL always ends in
`order by <column>[ desc] limit <n>`; this adds the primary key as the tie-breaker that the later
pages already assume. SQL of any other shape runs as written.
"""

from __future__ import annotations

import re

from datasette.database import Database
from datasette.utils import escape_sqlite

_TABLE_PAGE = re.compile(
    r"^select .+? from (?P<table>\[[^\]]+\]|[A-Za-z_]\w*) (?:where .+)?"
    r"order by (?P<order>[^,()]+?) limit (?P<limit>\d+)$", re.S)


class KaplitDatabase(Database):
    def __init__(self, ds, path, is_mutable: bool = False):
        super().__init__(ds, path=path, is_mutable=is_mutable)
        self._tie_breakers: dict[str, str] = {}

    async def execute(self, sql, *args, **kwargs):
        page = _TABLE_PAGE.match(sql)
        if page:
            tie_breaker = await self._tie_breaker(page["table"])
            if tie_breaker and tie_breaker not in page["order"]:
                sql = (sql[: page.start("order")] + f"{page['order']}, {tie_breaker} limit {page['limit']}")
        return await super().execute(sql, *args, **kwargs)

    async def _tie_breaker(self, table: str) -> str | None:
        name = table[1:-1] if table.startswith("[") else table
        if name not in self._tie_breakers:
            if not await self.table_exists(name):
                return None  # a view: Datasette pages over it by offset
            keys = await self.primary_keys(name)
            self._tie_breakers[name] = ", ".join(escape_sqlite(k) for k in keys) if keys else "rowid"
        return self._tie_breakers[name]
