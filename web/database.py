"""The served database file: Datasette's `Database` with its table pages ordered completely.

Datasette 0.65 pages through a sorted table by keyset: every page after the first continues from
the (sort value, primary key) of the last row shown, but the first page is ordered by the sort
column alone. Rows that tie on the sort column (every study without a publication date, every
study of one year) then come back in whatever order SQLite picks, and at the first page boundary
some are repeated and others never shown: on the snapshot, `studies.csv?_stream=on` gave 3,086 rows
holding 2,000 of the 2,498 studies. The table page's SQL always ends in
`order by <column>[ desc] limit <n>` (the later pages' `order by <column>[ desc], <key> limit <n>`);
this adds the primary key as the tie-breaker that the later pages already have (and the sort
column itself, when `_col`/`_nocol` left it out). SQL of any other shape runs as written.

And a label filter on a list column of `studies` (`conditions__arraycontains=Depression`) is
answered by the index alone: Datasette's own clause unpacks every candidate study's JSON list
(`:p0 in (select value from json_each("studies"."conditions"))`), while kaplit's filter
(web/plugins/labels.py) adds the same condition as an indexed lookup of `study_labels`. Where the
statement holds both, for the same column and label, Datasette's clause is dropped.

An immutable file's schema is read once and remembered: Datasette asks for a table's columns,
keys and full-text table (SCHEMA_READS) and sends statements that read sqlite_master or pragmas
again for every page, each a wait for a thread.

`study_bitmaps()` reads the database's bitmaps of studies per facet value (db/bitmaps.py) once,
for an immutable file only: a mutable one may change under them (its pages count in SQL).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
import sqlite3
import threading
from pathlib import Path

from datasette.database import Database, QueryInterrupted, Results
from datasette.utils import escape_sqlite

from kaplit.db.bitmaps import StudyBitmaps
from kaplit.db.releases import release_name
from kaplit.web import page_studies
from kaplit.web.page_studies import PageSets, reading_the_set
from kaplit.web.plugins.labels import FACET_PARAM, LABEL_PARAM

_connections = threading.local()
_databases_opened = itertools.count()
_TABLE_PAGE = re.compile(
    r"^select (?P<columns>.+?) from (?P<table>\[[^\]]+\]|[A-Za-z_]\w*) (?:where .+)?"
    r"order by (?P<order>[^,()]+?)(?P<then>, [^,()]+)? limit (?P<limit>\d+)$", re.S)


class KaplitDatabase(Database):
    def __init__(self, ds, path, is_mutable: bool = False):
        super().__init__(ds, path=path, is_mutable=is_mutable)
        self._tie_breakers: dict[str, str] = {}
        self._indexes: dict[str, dict[tuple[str, bool], str]] = {}
        self._schema: dict[tuple, Results] = {}
        self._kept: dict = {}
        self._connection_key = f"kaplit_{next(_databases_opened)}"
        self.release = release_name(Path(path))  # the x-kaplit-release header (web/app.py)
        self.page_sets: PageSets | None = None  # immutable files only: sets stay true while served

    async def execute_fn(self, fn):
        """Datasette's, with each thread's connection kept per Database object, not per name:
        a release switched in under the same name must not reuse the connections of the last."""
        if self.ds.executor is None:
            return await super().execute_fn(fn)

        def in_thread():
            conn = getattr(_connections, self._connection_key, None)
            if conn is None:
                conn = self.connect()
                self.ds._prepare_connection(conn, self.name)
                setattr(_connections, self._connection_key, conn)
            return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self.ds.executor, in_thread)

    def connect(self, write=False):
        conn = super().connect(write=write)
        conn.create_function("kaplit_page", 2, lambda name, pmid: self.page_sets.contains(name, pmid))
        return conn

    async def kept(self, key, make):
        """What `await make()` gives, made once for an immutable file (it cannot change while served,
        and a new release is a new database object), anew for a mutable one."""
        if self.is_mutable:
            return await make()
        if key not in self._kept:
            self._kept[key] = await make()
        return self._kept[key]

    async def table_counts(self, limit=10):
        """For an immutable file, the row counts kaplit keeps (each `column_counts` table, `studies`
        from the bitmaps) and any other table counted within PAGE_COUNT_LIMIT_MS, once (Datasette
        would give each 5 ms). Datasette 0.65 also counts every table of an immutable file, without
        limit, before its first request: at a million records 3 s from the OS's page cache and 26 s
        from a cold disk, before a worker answers anything. That count is skipped; the database
        page counts when it is asked."""
        if self.is_mutable:
            return await super().table_counts(limit)
        if limit >= STARTUP_COUNT_LIMIT_MS:
            return {}
        if self._cached_table_counts is None:
            self._cached_table_counts = await self._counted_tables(max(limit, PAGE_COUNT_LIMIT_MS))
        return self._cached_table_counts

    async def _counted_tables(self, limit) -> dict[str, int | None]:
        known = dict((await self.execute(
            "select table_name, sum(count) from column_counts where column_name = "
            "(select min(column_name) from column_counts c where c.table_name = column_counts.table_name) "
            "group by table_name")).rows) if await self.table_exists("column_counts") else {}
        known["studies"] = await self.study_count()
        counts = {}
        for table in await self.table_names():
            if table in known:
                counts[table] = known[table]
                continue
            try:
                counted = await self.execute(f"select count(*) from [{table}]", custom_time_limit=limit)
                counts[table] = counted.rows[0][0]
            except (QueryInterrupted, sqlite3.OperationalError, sqlite3.DatabaseError):
                counts[table] = None  # Datasette shows "Many rows"
        return counts

    async def study_count(self) -> int:
        """How many studies: the bitmaps of an immutable file know (counting a million rows takes
        10 ms)."""
        bitmaps = await self.study_bitmaps()
        return len(bitmaps.everything) if bitmaps else (await self.execute("select count(*) from studies")).rows[0][0]

    async def study_bitmaps(self) -> StudyBitmaps | None:
        if self.page_sets is None and not self.is_mutable:
            self.page_sets = PageSets(await self.execute_fn(StudyBitmaps.read))
        return self.page_sets.bitmaps if self.page_sets else None

    async def execute(self, sql, params=None, *args, **kwargs):
        if not self.is_mutable and _SCHEMA.match(sql):
            return await self._schema_statement(sql, params, *args, **kwargs)
        studies = self.page_sets.of(params) if self.page_sets else None
        if studies is not None and _COUNT.match(sql):
            return Results([(len(studies),)], False, [("count(*)",)])
        if isinstance(params, dict) and any(key.startswith(FACET_PARAM) for key in params):
            sql = _without_json_label_checks(sql, params)
        if _TABLE_PAGE.match(sql):
            sql, params = await self._table_page(sql, params, studies)
        return await super().execute(sql, params, *args, **kwargs)

    async def _schema_statement(self, sql, params, *args, **kwargs) -> Results:
        """Answered once, then remembered (up to SCHEMA_STATEMENTS_KEPT of them)."""
        key = (sql, repr(params))
        if key not in self._schema:
            results = await super().execute(sql, params, *args, **kwargs)
            if len(self._schema) >= SCHEMA_STATEMENTS_KEPT:
                return results
            self._schema[key] = results
        return self._schema[key]

    async def _table_page(self, sql: str, params, studies) -> tuple[str, object]:
        """A table page's statement with its sort column, the primary key as tie-breaker, and the
        page's set of studies (when it has one) read by PMID or walking the sort index."""
        page = _TABLE_PAGE.match(sql)
        if _lacks_sort_column(page):
            sql = f"{sql[: page.end('columns')]}, {page['order'].split()[0]}{sql[page.end('columns'):]}"
            page = _TABLE_PAGE.match(sql)
        tie_breaker = await self._tie_breaker(page["table"])
        if tie_breaker and tie_breaker not in page["order"] and not page["then"]:
            sql = (sql[: page.start("order")] + f"{page['order']}, {tie_breaker} limit {page['limit']}")
        if studies is None:
            return sql, params
        index = await self._sort_index(page)
        walk = index is not None and page_studies.walk_the_index(
            len(studies), len(self.page_sets.bitmaps.everything), int(page["limit"]))
        sql, params = reading_the_set(sql, page.end("table") + 1, studies, params, walk)
        if walk:
            sql = f"{sql[: page.end('table')]} indexed by {escape_sqlite(index)}{sql[page.end('table'):]}"
        return sql, params

    async def _sort_index(self, page) -> str | None:
        """The index that lists a table page's rows in its order (sort column in the page's
        direction, then the primary key ascending), if there is one."""
        column, *direction = page["order"].split()
        key = (column.strip('[]"'), bool(direction) and direction[0].lower() == "desc")
        return (await self._sort_indexes(page["table"])).get(key)

    async def _sort_indexes(self, table: str) -> dict[tuple[str, bool], str]:
        name = _unquoted(table)
        if name not in self._indexes:
            self._indexes[name] = (await self.execute_fn(lambda conn: _ordering_indexes(conn, name)))
        return self._indexes[name]

    async def _tie_breaker(self, table: str) -> str | None:
        name = _unquoted(table)
        if name not in self._tie_breakers:
            if not await self.table_exists(name):
                return None  # a view: Datasette pages over it by offset
            keys = await self.primary_keys(name)
            self._tie_breakers[name] = ", ".join(escape_sqlite(k) for k in keys) if keys else "rowid"
        return self._tie_breakers[name]


SCHEMA_READS = ("table_exists", "table_names", "view_names", "hidden_table_names", "table_columns",
                "table_column_details", "primary_keys", "fts_table", "label_column_for_table",
                "foreign_keys_for_table", "get_all_foreign_keys", "get_table_definition", "get_view_definition")


def _read_once(method: str):
    read = getattr(Database, method)

    async def remembered(self, *args):
        found = await self.kept((method, args), lambda: read(self, *args))
        return copy.copy(found) if isinstance(found, (list, dict, set)) else found  # callers may add to it

    remembered.__name__ = method
    return remembered


for _method in SCHEMA_READS:
    setattr(KaplitDatabase, _method, _read_once(_method))

SCHEMA_STATEMENTS_KEPT = 1000
STARTUP_COUNT_LIMIT_MS = 60_000  # Datasette's start-up count asks with an hour; pages with 5 to 10 ms
PAGE_COUNT_LIMIT_MS = 50
_SCHEMA = re.compile(r"^\s*(select [^;]+ from sqlite_master [^;]+|pragma \w+(\(\w*\))?)\s*$", re.I)
_COUNT = re.compile(r"^select count\(\*\) from studies where ", re.I)


def _unquoted(table: str) -> str:
    return table[1:-1] if table.startswith("[") else table


def _lacks_sort_column(page) -> bool:
    """A page whose chosen columns (`_col`, `_nocol`) leave out the one it is sorted by: Datasette
    0.65 then fails (500) building the next page's key from it, so it is shown after all."""
    columns = {c.strip().strip('[]"') for c in page["columns"].split(",")}
    sort = page["order"].split()[0].strip('[]"')
    return "*" not in columns and sort not in columns and sort != "rowid"


def _ordering_indexes(conn, table: str) -> dict[tuple[str, bool], str]:
    """{(column, descending): index} of the indexes that list rows by one column, then by the
    row id (primary key) ascending: `(column)` and `(column DESC, pk)`."""
    indexes = {}
    for _, index, *_ in conn.execute("select * from pragma_index_list(?)", [table]):
        keys = [(name, bool(desc)) for _, _, name, desc, _, is_key in
                conn.execute("select * from pragma_index_xinfo(?)", [index]) if is_key]
        if keys[0][0] is not None and (len(keys) == 1 or len(keys) == 2 and not keys[1][1]
                                       and _is_rowid(conn, table, keys[1][0])):
            indexes.setdefault(keys[0], index)
    return indexes


def _is_rowid(conn, table: str, column: str) -> bool:
    return any(name == column and pk for _, name, _, _, _, pk in conn.execute(f"pragma table_info([{table}])"))


_JSON_LABEL_CHECK = re.compile(r':(p\d+) in \(select value from json_each\("studies"\."(\w+)"\)\)')


def _without_json_label_checks(sql: str, params: dict) -> str:
    """The statement without Datasette's JSON checks of the labels kaplit's indexed filter checks."""
    indexed = {(params[key], params[LABEL_PARAM + key.removeprefix(FACET_PARAM)])
               for key in params if key.startswith(FACET_PARAM)}

    def drop(check):
        return "1" if (check[2], params.get(check[1])) in indexed else check[0]

    return _JSON_LABEL_CHECK.sub(drop, sql)
