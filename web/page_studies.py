"""The studies a studies page selects, worked out in memory from the database's bitmaps
(db/bitmaps.py) when every filter of its address is one they answer.

Such a page's statements carry the parameter `kaplit_page`, naming its filters; the statements
stay as Datasette and kaplit's label filter write them (valid SQL, shown as "View and edit SQL"),
and the database (web/database.py) runs them with the page's set instead:
- the count is the set's size, read from no row;
- the facets intersect the set with each value's bitmap (web/plugins/labels.py);
- the rows: a small set is read by primary key (`pmid in` its PMIDs, sorted after); a large one
  is tested study by study (the SQL function `kaplit_page`) while SQLite walks the sort column's
  index, which stops after one page: at 100,000 studies, 23,000 matches sorted by date took 35 ms
  as a sort of every match and under 1 ms this way (`walk_the_index` takes the cheaper way).
  The filters' own clauses go from the statement, so that the walk reads the index alone.
Each database keeps the sets of its last KEPT filter combinations.
"""

from __future__ import annotations

import contextvars
import json
import re
import threading
from collections import OrderedDict
from urllib.parse import urlencode

from pyroaring import BitMap

from kaplit.db.bitmaps import FilterNotIndexed, StudyBitmaps

PAGE_PARAM, IDS_PARAM = "kaplit_page", "kaplit_ids"
# False while a request runs SQL a visitor wrote (`?sql=`): set per request by web/app.py
TABLE_PAGE_REQUEST: contextvars.ContextVar[bool] = contextvars.ContextVar("kaplit_table_page", default=True)
KEPT = 512
# arguments of a table page that select no rows (paging, sorting, facets, formats)
NOT_FILTERS = {"_sort", "_sort_desc", "_size", "_next", "_labels", "_nolabels", "_shape", "_nocount", "_nofacet",
               "_trace", "_col", "_nocol", "_json", "_stream", "_dl", "_timelimit", "_ttl", "_nosuggest", "_extra",
               "_context"}
# clauses the page's set answers: kaplit's label lookups and Datasette's filters, so that walking
# the sort index reads the index alone and the rows of the page
_ANSWERED = re.compile(r'pmid in \(select pmid from study_labels where facet = :kaplit_lf\d+ and label = '
                       r':kaplit_ll\d+\)|:p\d+ in \(select value from json_each\("studies"\."\w+"\)\)'
                       # Datasette's filters ("column" op :pN); its next-page condition names columns unquoted
                       r'|"\w+" (?:=|!=|>|>=|<|<=) :p\d+|"\w+" is (?:not )?null')


class PageSets:
    """The sets of studies of a database's recent filter combinations, by their `kaplit_page`."""

    def __init__(self, bitmaps: StudyBitmaps):
        self.bitmaps = bitmaps
        self._sets: OrderedDict[str, BitMap] = OrderedDict()
        self._lock = threading.Lock()

    def name(self, request) -> str | None:
        """The `kaplit_page` of a request whose filters the bitmaps answer (None: SQL must)."""
        try:
            filters = request_filters(request)
            if not filters:
                return None
            name = urlencode(sorted((f"{column}__{operator}", value) for column, operator, value in filters))
            if name not in self._sets:
                self._keep(name, self.bitmaps.matching(filters))
        except FilterNotIndexed:
            return None
        return name

    def of(self, params) -> BitMap | None:
        """The set a table page's statement names (never for SQL a visitor sent: `?sql=` may
        carry any parameters)."""
        if not TABLE_PAGE_REQUEST.get():
            return None
        name = params.get(PAGE_PARAM) if isinstance(params, dict) else None
        with self._lock:
            return self._sets.get(name) if name is not None else None

    def contains(self, name: str, pmid: int) -> bool:
        """The SQL function `kaplit_page`."""
        studies = self._sets.get(name)  # one dict lookup, atomic: this runs for every row read
        if studies is None:
            raise LookupError(f"the studies of {name} are no longer kept")
        return pmid in studies

    def _keep(self, name: str, studies: BitMap):
        with self._lock:
            self._sets[name] = studies
            while len(self._sets) > KEPT:
                self._sets.popitem(last=False)


def request_filters(request) -> list[tuple[str, str, str]]:
    """(column, operator, value) of every filter of a table page's address, as Datasette reads
    them; FilterNotIndexed for an argument that selects rows in another way."""
    filters = []
    for key in request.args.keys():
        if key in NOT_FILTERS or key.startswith("_facet"):
            continue
        if key.startswith("_"):
            raise FilterNotIndexed(key)  # _search, _where, _through, ...
        column, _, operator = key.rpartition("__") if "__" in key else (key, "", "exact")
        filters += [(column, operator, value) for value in request.args.getlist(key)]
    return filters


def walk_the_index(matches: int, studies: int, page_rows: int) -> bool:
    """Reading M matches costs about M row reads and a sort; walking, about a page's rows times
    N/M index entries, each some ten times cheaper than a row read (at 1,000,000 studies and 3,500
    matches: 11 ms walking, 18 ms reading)."""
    return 10 * matches * matches > page_rows * studies


def reading_the_set(sql: str, where_at: int, studies: BitMap, params: dict, walk: bool) -> tuple[str, dict]:
    """A table page's statement with the page's set in place of the clauses it answers: the set
    read by PMID, or (`walk`) tested row by row."""
    sql = _ANSWERED.sub("1", sql)
    if walk:
        clause = f"kaplit_page(:{PAGE_PARAM}, pmid)"
    else:
        clause, params = f"pmid in (select value from json_each(:{IDS_PARAM}))", {
            **params, IDS_PARAM: json.dumps(list(studies))}
    if sql.startswith("where ", where_at):
        return f"{sql[:where_at]}where {clause} and {sql[where_at + 6:]}", params
    return f"{sql[:where_at]}where {clause} {sql[where_at:]}", params
