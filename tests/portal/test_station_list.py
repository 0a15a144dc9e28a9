"""Charging Stations list: columns, search, filters, pagination, live partial and a constant query count."""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, Location
from stations.models import Station

LIST = reverse("stations:list")


def make_stations(n, prefix="S", account=None, **fields):
    account = account or Account.objects.create(name=f"Acc {prefix}")
    location = Location.objects.create(account=account, name=f"Loc {prefix}")
    Station.objects.bulk_create(
        Station(
            ocpp_id=f"{prefix}-{i:05d}",
            serial_number=f"SN{prefix}{i:05d}",
            account=account,
            location=location,
            is_connected=bool(i % 2),
            **fields,
        )
        for i in range(n)
    )


def count_queries(client, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LIST, params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def rows_and_queries(client, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LIST, params)
    assert response.status_code == 200
    return response.content.decode().count("<tr data-station="), len(ctx.captured_queries)


@pytest.mark.parametrize("persona", ["operator", "account_owner"])
def test_query_count_is_the_same_for_5_and_50_stations(request, client_for, persona, alice_account):
    # Another account's stations are in the database too: the owner's page must not list (or count) them.
    make_stations(30, "OTHER")
    mine = None if persona == "operator" else alice_account
    client = client_for(request.getfixturevalue(persona))
    make_stations(5, "A", account=mine)
    small_rows, small = rows_and_queries(client, q="A-")
    make_stations(45, "B", account=mine)
    # "-0" matches both batches (A-00000.., B-00000..): 50 stations (80 for the operator); a page shows 25.
    big_rows, big = rows_and_queries(client, q="-0")
    assert (small_rows, big_rows) == (5, 25)
    assert big == small
    assert rows_and_queries(client)[1] == small  # unfiltered: the same queries too


def test_query_count_is_the_same_for_10_and_1000_stations(client_for, operator):
    client = client_for(operator)
    make_stations(10, "A")
    small = count_queries(client)
    small_partial = count_queries(client, q="A-")
    make_stations(990, "B")
    assert Station.objects.count() == 1000
    assert count_queries(client) == small
    assert count_queries(client, q="B-") == small_partial


def test_list_shows_the_columns_with_a_blue_ocpp_id_link(client_for, operator, own_station):
    body = client_for(operator).get(LIST).content.decode()
    assert (
        f'<a class="ocpp-id" href="{reverse("stations:detail", args=[own_station.pk])}">ALICE-001</a>' in body
    )
    for text in (
        "ACE0001",
        "Alfen",
        "Eve Single",
        "Offline",
        "Active",
        "Alice Charging BV",
        "Alice HQ car park",
    ):
        assert text in body


def test_disabled_station_shows_as_disabled(client_for, operator, own_station):
    Station.objects.filter(pk=own_station.pk).update(is_disabled=True)
    body = client_for(operator).get(LIST).content.decode()
    assert '<span class="badge disabled">Disabled</span>' in body


@pytest.mark.parametrize(
    "params,shown,hidden",
    [
        ({"q": "ace0001"}, "ALICE-001", "BOB-001"),  # serial number, case-insensitive
        ({"q": "BOB"}, "BOB-001", "ALICE-001"),  # OCPP ID
        ({"state": "activation_pending"}, "PENDING-001", "ALICE-001"),
        ({"state": "disabled"}, "BOB-001", "ALICE-001"),
        ({"online": "yes"}, "ALICE-001", "BOB-001"),
        ({"online": "no"}, "BOB-001", "ALICE-001"),
    ],
)
def test_search_and_filters(
    client_for, operator, own_station, foreign_station, pending_station, params, shown, hidden
):
    Station.objects.filter(pk=own_station.pk).update(is_connected=True)
    Station.objects.filter(pk=foreign_station.pk).update(is_disabled=True)
    body = client_for(operator).get(LIST, params).content.decode()
    assert shown in body and hidden not in body


def link(body: str, label: str) -> str | None:
    """The href of the pagination link labelled `label` ("Next →", "« First", ..), or None."""
    found = re.search(r'<a href="([^"]*)">' + re.escape(label) + "</a>", body)
    return html.unescape(found.group(1)) if found else None


def test_pagination_keeps_the_filters(client_for, operator):
    make_stations(60)
    client = client_for(operator)
    body = client.get(LIST, {"q": "S-"}).content.decode()
    assert "S-00000 – S-00024 · 60 stations" in body and link(body, "← Previous") is None
    second = client.get(LIST + link(body, "Next →")).content.decode()
    assert link(body, "Next →").startswith("?q=S-&after=")
    assert "S-00025 – S-00049 · 60 stations" in second and "S-00024<" not in second
    # The last page is the list's last 25 (pages counted from the end), and "Previous" walks back from there.
    last = client.get(LIST + link(second, "Last »")).content.decode()
    assert "S-00035 – S-00059" in last and link(last, "Next →") is None and link(last, "Last »") is None
    assert link(last, "← Previous").startswith("?q=S-&before=")
    back = client.get(LIST + link(last, "← Previous")).content.decode()
    assert "S-00010 – S-00034" in back
    assert "S-00000 – S-00024" in client.get(LIST + link(back, "« First")).content.decode()


def walk(client, **params):
    """Every kind of page of the list, with its rows and query count: first, next, the one after, last, the one
    before the last (a walk back from the end), and the first and next pages filtered to the online stations."""
    pages = {}

    def get(name, url):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        pages[name] = (body.count("<tr data-station="), len(ctx.captured_queries))
        return body

    query = "&".join(f"{k}={v}" for k, v in params.items())
    first = get("first", f"{LIST}?{query}")
    second = get("next", LIST + link(first, "Next →"))
    get("next of next", LIST + link(second, "Next →"))
    last = get("last", LIST + link(first, "Last »"))
    get("before last", LIST + link(last, "← Previous"))
    online = get("online", f"{LIST}?{query}&online=yes")
    get("online next", LIST + link(online, "Next →"))
    return pages


@pytest.mark.parametrize("persona", ["operator", "account_owner", "fst"])
def test_deep_pages_cost_the_queries_of_the_first_at_two_sizes(
    request, client_for, persona, alice_account, service_account
):
    # Every page of the list (first, middle, last, walking back, filtered) makes the same queries, with 130
    # stations as with 1,030: no query grows with the page's depth or the fleet. Stations the persona may not
    # see are in the database too, and are neither listed nor counted.
    make_stations(20, "OTHER")
    fields = {"field_service_account": service_account} if persona == "fst" else {}
    mine = alice_account if persona == "account_owner" else None
    client = client_for(request.getfixturevalue(persona))
    make_stations(130, "A", account=mine, **fields)
    small = walk(client, q="A-")
    make_stations(900, "B", account=mine, **fields)
    big = walk(client)
    # Full pages everywhere: 130 stations (65 online) and more.
    assert {rows for rows, _ in [*small.values(), *big.values()]} == {25}
    assert len({queries for _, queries in [*small.values(), *big.values()]}) == 1, (small, big)
    count = Station.objects.visible_to(request.getfixturevalue(persona)).count()
    assert count == (1050 if persona == "operator" else 1030)
    assert f"{count} stations" in client.get(LIST).content.decode()


def test_htmx_poll_returns_only_the_table_with_fresh_state(client_for, operator, own_station):
    client = client_for(operator)
    Station.objects.filter(pk=own_station.pk).update(is_connected=True)
    response = client.get(LIST, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="station-table"' in body
    assert "<html" not in body and "Online" in body
    assert 'hx-trigger="every 5s"' in body  # keeps polling


def test_account_owner_sees_only_own_stations(client_for, account_owner, own_station, foreign_station):
    body = client_for(account_owner).get(LIST).content.decode()
    assert "ALICE-001" in body and "BOB-001" not in body


def test_driver_sees_no_stations(client_for, driver, own_station):
    body = client_for(driver).get(LIST).content.decode()
    assert "ALICE-001" not in body


def test_menu_lists_charging_stations_first(client_for, operator):
    body = client_for(operator).get(LIST).content.decode()
    menu = body[body.index('<nav class="menu">') :]
    first_link = menu[menu.index("<a") : menu.index("</a>")]
    assert "Charging Stations" in first_link
