"""IdOffsetPaginator (eflux/pagination.py) gives exactly Django's Paginator pages: same rows, same order, same
count and page numbers, with the select_related rows still loaded in the page's one fetch."""

import pytest
from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from eflux.pagination import IdOffsetPaginator
from stations.models import Station

pytestmark = pytest.mark.django_db


@pytest.fixture
def stations():
    accounts = [Account.objects.create(name=f"Account {i}") for i in range(3)]
    # Inserted out of OCPP ID order, so that the list's order is not the primary key's.
    Station.objects.bulk_create(
        Station(ocpp_id=f"CP-{(i * 37) % 61:03d}", account=accounts[i % 3], is_connected=bool(i % 2))
        for i in range(61)
    )


@pytest.mark.parametrize("per_page,orphans", [(25, 0), (10, 3), (61, 0), (100, 0)])
@pytest.mark.parametrize("online", [None, True])
def test_every_page_is_the_one_django_paginator_gives(stations, per_page, orphans, online):
    qs = Station.objects.select_related("account").order_by("ocpp_id")
    if online is not None:
        qs = qs.filter(is_connected=online)
    ours, django = IdOffsetPaginator(qs, per_page, orphans=orphans), Paginator(qs, per_page, orphans=orphans)
    assert (ours.count, ours.num_pages) == (django.count, django.num_pages)
    for number in ["1", *range(1, django.num_pages + 1), "999", "x"]:
        mine, theirs = ours.get_page(number), django.get_page(number)
        assert [s.pk for s in mine] == [s.pk for s in theirs]
        assert (mine.number, mine.has_next(), mine.has_previous()) == (
            theirs.number,
            theirs.has_next(),
            theirs.has_previous(),
        )


def test_the_page_rows_come_with_their_related_rows(stations):
    page = IdOffsetPaginator(Station.objects.select_related("account").order_by("ocpp_id"), 25).get_page(2)
    with CaptureQueriesContext(connection) as ctx:
        names = [s.account.name for s in page]
    assert len(names) == 25 and len(ctx.captured_queries) == 0


def test_an_empty_list_has_one_empty_page(db):
    page = IdOffsetPaginator(Station.objects.order_by("ocpp_id"), 25).get_page(1)
    assert list(page) == [] and page.paginator.num_pages == 1
