"""Keyset ("seek") pagination for the long portal lists (Charging Stations, Sessions): a page is the rows after
(or before) the last row the user saw, in the list's order, found by an index range scan; never an OFFSET.

Every page costs the same, the first or the ten-thousandth: one query for the page's rows (per_page + 1, the
extra row tells whether there is a next page) and one for the count, which may be bounded (`count_limit`: count
at most that many rows and show "more than N"). The links are cursors (`?after=…`, `?before=…`, `?last=1` for
the end of the list), not page numbers: a page polled every 5 s or opened from a bookmark stays the same rows
while new sessions arrive at the top, where page N of an offset list would slide. docs/architecture.md
("Portal lists: keyset pagination") gives the reasons; bench/portal_lists.py measures it.

The order is a list of model field names ("-started_at", "-id"), ending in a unique non-NULL column (a total
order).
Leading fields may be nullable: where NULL sorts is the database's (connection.features.nulls_order_largest,
PostgreSQL: NULL is largest, SQLite: smallest), so ORDER BY matches the plain column index.

Own code rather than django-cursor-pagination (0.3.0): that library orders NULLS LAST explicitly, which on
PostgreSQL no longer matches a `started_at DESC` index (a sort of every row), and its cursor filter has no range
bound on the leading column, so a deep page still walks every row before it."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Q, QuerySet


def _encode(values: list) -> str:
    raw = json.dumps([None if v is None else str(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, count: int) -> list | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(values, list) or len(values) != count:
        return None
    if not all(v is None or isinstance(v, str) for v in values):
        return None
    return values


@dataclass
class KeysetPage:
    object_list: list
    count: int
    count_is_exact: bool
    has_previous: bool
    has_next: bool
    # Query strings (without "?") of the neighbouring pages and the ends; "" for the first page.
    previous_query: str = ""
    next_query: str = ""
    last_query: str = ""
    is_first: bool = True
    is_last: bool = False
    extra: dict = field(default_factory=dict)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)

    @property
    def has_other_pages(self) -> bool:
        return self.has_previous or self.has_next


class KeysetPaginator:
    def __init__(
        self, queryset: QuerySet, ordering: list[str], per_page: int, *, count_limit: int | None = None
    ):
        self.queryset = queryset
        self.ordering = ordering
        self.per_page = per_page
        self.count_limit = count_limit
        meta = queryset.model._meta
        self.fields = [meta.pk if o.lstrip("-") == "pk" else meta.get_field(o.lstrip("-")) for o in ordering]
        last = self.fields[-1]
        unique = last.unique or any(c.fields == (last.name,) for c in meta.total_unique_constraints)
        assert unique and not last.null, "the order must end in a unique non-NULL column"
        self.nulls_largest = connections[queryset.db].features.nulls_order_largest

    # --- the cursor filter -------------------------------------------------------------------------------

    def _position(self, row) -> list:
        return [getattr(row, f.attname) for f in self.fields]

    def _values(self, cursor: str | None) -> list | None:
        if not cursor:
            return None
        raw = _decode(cursor, len(self.fields))
        if raw is None:
            return None
        try:
            return [None if v is None else f.to_python(v) for f, v in zip(self.fields, raw, strict=True)]
        except (ValidationError, ValueError, TypeError):
            return None

    def _beyond(self, values: list, forward: bool) -> Q:
        """Rows strictly after (forward) or before `values` in the list's order."""
        q = Q(pk__in=[])  # nothing
        equal = Q()
        for name, f, value in zip(self.ordering, self.fields, values, strict=True):
            descending = name.startswith("-") == forward  # direction of this walk through the column
            column = f.name
            # Where NULL falls in this walk: at its end when NULL is the largest value and we walk upwards.
            nulls_at_end = self.nulls_largest != descending
            if value is None:
                if not nulls_at_end:  # the NULLs come first: every non-NULL value is beyond
                    q |= equal & Q(**{f"{column}__isnull": False})
                equal &= Q(**{f"{column}__isnull": True})
            else:
                step = Q(**{f"{column}__{'lt' if descending else 'gt'}": value})
                if nulls_at_end and f.null:
                    step |= Q(**{f"{column}__isnull": True})
                q |= equal & step
                equal &= Q(**{column: value})
        first_name, first, first_value = self.ordering[0], self.fields[0], values[0]
        descending = first_name.startswith("-") == forward
        if first_value is not None and not (first.null and self.nulls_largest != descending):
            # A range bound on the leading column as well: the index scan starts at the cursor rather than
            # filtering every row from the top of the list (the OR above is not an index condition).
            q &= Q(**{f"{first.name}__{'lte' if descending else 'gte'}": first_value})
        return q

    def _reversed(self) -> list[str]:
        return [o[1:] if o.startswith("-") else "-" + o for o in self.ordering]

    # --- pages ---------------------------------------------------------------------------------------------

    def page(self, params) -> KeysetPage:
        """The page that `params` (request.GET) asks for: ?after=<cursor>, ?before=<cursor>, ?last=1, or the
        first page. An unreadable cursor gives the first page."""
        n = self.per_page
        after, before = self._values(params.get("after")), self._values(params.get("before"))
        if after is not None:
            rows = list(self.queryset.filter(self._beyond(after, True)).order_by(*self.ordering)[: n + 1])
            has_previous, has_next = True, len(rows) > n
            rows = rows[:n]
        elif before is not None or params.get("last"):
            qs = self.queryset.order_by(*self._reversed())
            if before is not None:
                qs = qs.filter(self._beyond(before, False))
            rows = list(qs[: n + 1])
            has_previous, has_next = len(rows) > n, before is not None
            rows = rows[:n][::-1]
        else:
            rows = list(self.queryset.order_by(*self.ordering)[: n + 1])
            has_previous, has_next = False, len(rows) > n
            rows = rows[:n]
        count, exact = self._count()
        page = KeysetPage(rows, count, exact, has_previous, has_next)
        page.is_first, page.is_last = not has_previous, not has_next
        if rows:
            page.previous_query = "before=" + _encode(self._position(rows[0])) if has_previous else ""
            page.next_query = "after=" + _encode(self._position(rows[-1])) if has_next else ""
        page.last_query = "last=1"
        return page

    def cursor(self, row) -> str:
        """The cursor of a row: ?after=<it> is the page that starts just after that row."""
        return _encode(self._position(row))

    def _count(self) -> tuple[int, bool]:
        # Only the primary key: the list's annotations (e.g. the sessions' invoice number subquery) and joins
        # for display are not part of the count.
        qs = self.queryset.order_by().values("pk")
        if self.count_limit is None:
            return qs.count(), True
        # COUNT(*) over a LIMITed subquery: reads at most count_limit + 1 rows (an index-only scan where it can).
        n = qs[: self.count_limit + 1].count()
        return min(n, self.count_limit), n <= self.count_limit
