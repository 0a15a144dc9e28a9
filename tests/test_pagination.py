"""KeysetPaginator (eflux/pagination.py): walking the pages forwards (?after=) and backwards (?before=, from
?last=1) visits exactly the list in its order, every row once, also with NULLs and ties in the leading column;
a page stays the same rows when rows arrive at the top; a bad cursor gives the first page; one query for the
rows (with their select_related rows) and one for the (bounded) count, whatever the page."""

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from billing.models import ChargingSession
from eflux.pagination import KeysetPaginator
from stations.models import Station

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def stations():
    accounts = [Account.objects.create(name=f"Account {i}") for i in range(3)]
    # Inserted out of OCPP ID order, so that the list's order is not the primary key's.
    Station.objects.bulk_create(
        Station(ocpp_id=f"CP-{(i * 37) % 61:03d}", account=accounts[i % 3], is_connected=bool(i % 2))
        for i in range(61)
    )


@pytest.fixture
def sessions(stations):
    """47 sessions: several starting at the same second (ties broken by id), four without a start time."""
    station = Station.objects.first()
    ChargingSession.objects.bulk_create(
        ChargingSession(
            station=station,
            transaction_id=i + 1,
            started_at=None if i % 12 == 5 else T0 + timedelta(minutes=(i * 7) % 20),
        )
        for i in range(47)
    )


def params(query: str) -> dict:
    return dict(parse_qsl(query))


def walk_forwards(paginator):
    page, seen = paginator.page({}), []
    while True:
        seen.extend(page.object_list)
        if not page.next_query:
            return seen, page
        page = paginator.page(params(page.next_query))


def walk_backwards(paginator):
    page, seen = paginator.page({"last": "1"}), []
    while True:
        seen[:0] = page.object_list
        if not page.previous_query:
            return seen, page
        page = paginator.page(params(page.previous_query))


@pytest.mark.parametrize("per_page", [1, 10, 25, 61, 100])
@pytest.mark.parametrize("online", [None, True])
def test_the_pages_walk_the_list_in_order_both_ways(stations, per_page, online):
    qs = Station.objects.select_related("account")
    if online is not None:
        qs = qs.filter(is_connected=online)
    expected = [s.pk for s in qs.order_by("ocpp_id")]
    paginator = KeysetPaginator(qs, ["ocpp_id"], per_page)
    forwards, last = walk_forwards(paginator)
    backwards, first = walk_backwards(paginator)
    assert [s.pk for s in forwards] == expected == [s.pk for s in backwards]
    assert last.is_last and not last.has_next and first.is_first and not first.has_previous
    assert paginator.page({}).count == len(expected)


@pytest.mark.parametrize("per_page", [1, 4, 12, 50])
def test_nulls_and_ties_in_the_leading_column_are_neither_skipped_nor_repeated(sessions, per_page):
    qs = ChargingSession.objects.all()
    # The database's own order (NULL first on PostgreSQL, last on SQLite): the one the index gives.
    expected = [s.pk for s in qs.order_by("-started_at", "-id")]
    assert len(expected) == 47 and qs.filter(started_at=None).count() == 4
    paginator = KeysetPaginator(qs, ["-started_at", "-id"], per_page)
    forwards, _ = walk_forwards(paginator)
    backwards, _ = walk_backwards(paginator)
    assert [s.pk for s in forwards] == expected == [s.pk for s in backwards]


def test_a_page_keeps_its_rows_when_new_rows_arrive_at_the_top(sessions):
    # (Without the NULL start times, which PostgreSQL puts above the newest and SQLite below the oldest.)
    started = ChargingSession.objects.exclude(started_at=None)
    paginator = KeysetPaginator(started, ["-started_at", "-id"], 10)
    first = paginator.page({})
    older = first.next_query  # the "Older" link of the first page
    second = paginator.page(params(older))
    station = Station.objects.first()
    ChargingSession.objects.bulk_create(
        ChargingSession(station=station, transaction_id=100 + i, started_at=T0 + timedelta(days=1, minutes=i))
        for i in range(5)
    )
    again = paginator.page(params(older))  # the link (or the page's 5 s poll) after they arrived
    assert [s.pk for s in again] == [s.pk for s in second] and len(again) == 10
    # "Newer" from there: the 10 sessions just before it (the old first page), with the new ones above those.
    newer = paginator.page(params(again.previous_query))
    assert [s.pk for s in newer] == [s.pk for s in first] and newer.has_previous
    assert [s.transaction_id for s in paginator.page({})][:5] == [104, 103, 102, 101, 100]


@pytest.mark.parametrize("cursor", ["x", "", "bm90IGpzb24", "WzFd", "WyJub3QgYSBkYXRlIiwiMSJd", "!!"])
def test_an_unreadable_cursor_gives_the_first_page(sessions, cursor):
    paginator = KeysetPaginator(ChargingSession.objects.all(), ["-started_at", "-id"], 10)
    first = paginator.page({})
    for key in ("after", "before"):
        page = paginator.page({key: cursor})
        assert [s.pk for s in page] == [s.pk for s in first] and page.is_first


def test_one_query_for_the_rows_with_their_related_rows_and_one_for_the_count(stations):
    paginator = KeysetPaginator(Station.objects.select_related("account"), ["ocpp_id"], 25)
    cursor = params(paginator.page({}).next_query)
    for asked in ({}, cursor, {"last": "1"}, {"before": cursor["after"]}):
        with CaptureQueriesContext(connection) as ctx:
            page = paginator.page(asked)
            names = [s.account.name for s in page]
        assert names and len(ctx.captured_queries) == 2, asked


def test_the_count_can_be_bounded(stations):
    qs = Station.objects.all()
    assert (KeysetPaginator(qs, ["ocpp_id"], 25, count_limit=60).page({}).count_is_exact) is False
    page = KeysetPaginator(qs, ["ocpp_id"], 25, count_limit=61).page({})
    assert (page.count, page.count_is_exact) == (61, True)
    page = KeysetPaginator(qs, ["ocpp_id"], 25, count_limit=10).page({})
    assert (page.count, page.count_is_exact) == (10, False)


def test_an_empty_list_has_one_empty_page(db):
    page = KeysetPaginator(Station.objects.all(), ["ocpp_id"], 25).page({})
    assert list(page) == [] and not page.has_other_pages and page.count == 0
