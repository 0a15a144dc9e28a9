"""Offset pagination for long portal lists that skips the rows before the page by their ids only (a "deferred
join"): the OFFSET walks the list's order in an index (index-only where the index covers it, e.g.
session_started_id_idx) instead of fetching every skipped row and its select_related joins, and then only the
page's rows are loaded, by primary key, in the list's order. Same pages and the same count as Django's
Paginator; one query more per page. Measured in bench/portal_lists.py (docs/benchmarks.md, "Portal lists at
scale"): the last page of 100,000 sessions went from fetching and joining 100,000 rows to reading their ids."""

from django.core.paginator import Paginator


class IdOffsetPaginator(Paginator):
    """Paginator(queryset, per_page) for a QuerySet with a total order (end it with the primary key)."""

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        rows = {row.pk: row for row in self.object_list.filter(pk__in=ids)}
        # A row deleted between the two queries is left out rather than failing the page.
        return self._get_page([rows[pk] for pk in ids if pk in rows], number, self)
