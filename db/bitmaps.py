"""Which studies have each value of each facet column, as compressed bitmaps of PMIDs
(`study_bitmaps`), rebuilt with the summaries at every re-tag.

Why a bitmap library beside SQLite (pyroaring, the maintained binding of CRoaring): the facets of
a filtered studies page count eleven columns over every matching study. In SQL that is a join of
each match with its labels: 175 ms for a page of 30,000 matches at 100,000 studies, growing with
the data (issue 18). Intersecting the page's set with each value's bitmap costs microseconds per
value, and a served database does not change, so the bitmaps are read once when it is opened.
They are stored, not built at start-up, so that a million-study site is at full speed at once.

`StudyBitmaps` answers a Datasette filter (`design=...`, `year__gte=...`,
`conditions__arraycontains=...`, `duplicate_of__isnull=1`) with the same studies as its SQL.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pyroaring import BitMap
from sqlite_utils import Database

from kaplit.db.schema import STUDY_COLUMNS
from kaplit.pipeline.tagging.taxonomy import LABELLED_COLUMNS

# single-valued columns with a bitmap per value; `duplicate_of` (a PMID) only as null or not
VALUE_COLUMNS = ("design", "design_certain", "evidence_level", "trial_phase", "participants", "ketamine", "kap",
                 "psychotherapy", "year", "journal", "is_retracted", "correction_status")
NULL_COLUMNS = ("duplicate_of",)
LABEL_FILTERS = (*LABELLED_COLUMNS, "design")  # the columns of label_facet_counts' single-label filters
ALL = "*"  # the facet name of the row holding every study


def refresh_bitmaps(db: Database):
    """Rebuild `study_bitmaps` from `studies` and `study_labels`, and `label_facet_counts` from
    them (inside the caller's transaction)."""
    db.execute("DELETE FROM study_bitmaps")
    db.execute("DELETE FROM label_facet_counts")
    rows = computed_bitmaps(db.conn)
    db.conn.executemany("INSERT INTO study_bitmaps (facet, value, studies, bitmap) VALUES (?, ?, ?, ?)",
                        [(facet, value, len(bitmap), bitmap.serialize()) for facet, value, bitmap in rows])
    db.conn.executemany("INSERT INTO label_facet_counts (facet, label, counted, value, studies) "
                        "VALUES (?, ?, ?, ?, ?)", label_facet_counts(rows))


def label_facet_counts(rows):
    """(facet, label, counted, value, studies): among the studies with one label of a list column
    or one design (a single-label filter), how many have each value of every facet column; the
    counts of such a filter's page, in SQL, for any database size."""
    counted = [(facet, value, bitmap) for facet, value, bitmap in rows if facet not in (ALL, *NULL_COLUMNS)]
    for facet, label, chosen in counted:
        if facet in LABEL_FILTERS and label is not None:
            for other, value, bitmap in counted:
                studies = chosen.intersection_cardinality(bitmap)
                if studies:
                    yield facet, label, other, value, studies


def computed_bitmaps(conn) -> list[tuple[str, object, BitMap]]:
    """(facet, value, studies) of every facet column and value, from `studies` and `study_labels`."""
    rows = [(ALL, None, BitMap(pmid for (pmid,) in conn.execute("SELECT pmid FROM studies")))]
    for facet in LABELLED_COLUMNS:
        rows += _grouped(facet, conn.execute("SELECT label, pmid FROM study_labels WHERE facet = ? ORDER BY label",
                                             [facet]))
    present = {name for _, name, *_ in conn.execute("PRAGMA table_info(studies)")}
    for column in [column for column in VALUE_COLUMNS if column in present]:  # (a migration may add one later)
        rows += _grouped(column, conn.execute(f"SELECT [{column}], pmid FROM studies ORDER BY [{column}]"))
    for column in NULL_COLUMNS:
        rows += _grouped(column, conn.execute(f"SELECT NULL, pmid FROM studies WHERE [{column}] IS NULL"))
    return rows


def stale_bitmaps(conn) -> list[str]:
    """What `study_bitmaps` says that `studies` and `study_labels` do not (empty: in step)."""
    stored = StudyBitmaps.read(conn)
    stored_values = {(ALL, None): stored.everything} | {
        (facet, value): bitmap for facet, values in stored.values.items() for value, bitmap in values.items()}
    computed = {(facet, value): bitmap for facet, value, bitmap in computed_bitmaps(conn)}
    return [f"{facet} {value!r}: {len(stored_values.get((facet, value), ())):,} studies stored, "
            f"{len(computed.get((facet, value), ())):,} in the tables"
            for facet, value in sorted(stored_values.keys() | computed.keys(), key=repr)
            if stored_values.get((facet, value)) != computed.get((facet, value))]


def stale_label_facet_counts(conn) -> int:
    """How many rows of `label_facet_counts` differ from the counts of the tables' studies."""
    stored = set(conn.execute("SELECT facet, label, counted, value, studies FROM label_facet_counts"))
    return len(stored.symmetric_difference(label_facet_counts(computed_bitmaps(conn))))


def _grouped(facet: str, value_pmid_rows):
    for value, rows in itertools.groupby(value_pmid_rows, key=lambda row: row[0]):
        yield facet, value, BitMap(pmid for _, pmid in rows)


class FilterNotIndexed(Exception):
    """A filter the bitmaps cannot answer (full-text search, `_where`, a text comparison, ...)."""


@dataclass
class StudyBitmaps:
    everything: BitMap
    values: dict[str, dict] = field(default_factory=dict)  # column -> {value: BitMap}

    @classmethod
    def read(cls, conn) -> StudyBitmaps:
        loaded = cls(BitMap())
        for facet, value, blob in conn.execute("SELECT facet, value, bitmap FROM study_bitmaps"):
            bitmap = BitMap.deserialize(blob)
            if facet == ALL:
                loaded.everything = bitmap
            else:
                loaded.values.setdefault(facet, {})[value] = bitmap
        return loaded

    def counts(self, column: str, among: BitMap | None) -> list[tuple]:
        """(value, studies) of a column's values among some studies (all of them: None)."""
        if column not in self.values:
            raise FilterNotIndexed(f"no bitmaps of {column}")
        counted = [(value, len(bitmap) if among is None else among.intersection_cardinality(bitmap))
                   for value, bitmap in self.values[column].items()]
        return [(v, n) for v, n in counted if n]

    def matching(self, filters: list[tuple[str, str, str]]) -> BitMap:
        """The studies that pass every (column, operator, value) filter, as Datasette's SQL would
        select them; FilterNotIndexed for a filter that only SQL can answer."""
        result = self.everything
        for column, operator, value in filters:
            result = result & self._one(column, operator, value)
        return result

    def _one(self, column: str, operator: str, text: str) -> BitMap:
        if column not in self.values:
            raise FilterNotIndexed(column)
        values = self.values[column]
        nulls = values.get(None, BitMap())
        if operator == "isnull":
            return nulls
        if operator == "notnull":
            return self.everything - nulls
        if column in NULL_COLUMNS:
            raise FilterNotIndexed(f"{column}__{operator}")
        if column in LABELLED_COLUMNS:
            if operator == "arraycontains":
                return values.get(text, BitMap())
            if operator == "arraynotcontains":
                return self.everything - values.get(text, BitMap())
            raise FilterNotIndexed(f"{column}__{operator}")
        numeric = STUDY_COLUMNS.get(column) is int
        if operator in ("exact", "not"):
            key = _as_integer(text) if numeric else text
            equal = values.get(key, BitMap()) if key is not None else BitMap()
            return equal if operator == "exact" else self.everything - nulls - equal
        if operator in _COMPARISONS and numeric and _number(text) is not None:
            compare, bound = _COMPARISONS[operator], _number(text)
            return BitMap.union(BitMap(), *(b for v, b in values.items() if v is not None and compare(v, bound)))
        raise FilterNotIndexed(f"{column}__{operator}")


_COMPARISONS = {"gt": lambda a, b: a > b, "gte": lambda a, b: a >= b, "lt": lambda a, b: a < b,
                "lte": lambda a, b: a <= b}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _as_integer(text: str) -> int | None:
    """The integer SQLite compares an INTEGER column with, for a URL's text (none: no row equals it)."""
    number = _number(text.strip()) if text.strip() == text else None
    return int(number) if number is not None and number.is_integer() else None
