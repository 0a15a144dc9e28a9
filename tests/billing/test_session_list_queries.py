"""Sessions list: the number of queries does not grow with the rows on the page (no per-row lookups), for the
operator and for an account owner. Speed itself is measured in bench/portal_lists.py, never asserted here."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AccessGroup, ChargeCard
from billing import views
from billing.models import ChargingSession
from tests.personas import make_station

LIST = reverse("billing:session_list")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def add_sessions(n, *, account, start):
    """n completed sessions, each on its own station with its own card, half of them through an access group,
    so that a lookup per row (station, card, group) would show up as extra queries."""
    group = AccessGroup.objects.create(account=account, name=f"Group {start}")
    sessions = []
    for i in range(start, start + n):
        station = make_station(f"Q-{i:04d}", account=account, connectors=())
        card = ChargeCard.objects.create(id_tag=f"QTAG{i:04d}", label=f"Card {i}", account=account)
        at = T0 - timedelta(hours=i)
        sessions.append(
            ChargingSession(
                station=station,
                connector_id=1,
                transaction_id=1000 + i,
                status=ChargingSession.Status.COMPLETED,
                id_tag=card.id_tag,
                card=card,
                access_group=group if i % 2 else None,
                account=account,
                auth_status=ChargingSession.AuthStatus.ACCEPTED,
                meter_start=0,
                meter_stop=5_000,
                energy_wh=5_000,
                duration_seconds=3_600,
                started_at=at,
                stopped_at=at + timedelta(hours=1),
            )
        )
    ChargingSession.objects.bulk_create(sessions)


def rows_and_queries(client, **params):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(LIST, params)
    assert response.status_code == 200
    body = response.content.decode()
    return body.count('<td><a href="/sessions/'), len(ctx.captured_queries)


@pytest.mark.parametrize("persona", ["operator", "account_owner"])
def test_query_count_is_the_same_for_5_and_50_sessions(
    request, client_for, persona, alice_account, bob_account, foreign_station, foreign_card
):
    # A foreign account's session is in the database too; the owner must not see (or count) it.
    foreign = ChargingSession.objects.create(
        station=foreign_station, transaction_id=999, account=bob_account, card=foreign_card, started_at=T0
    )
    client = client_for(request.getfixturevalue(persona))
    add_sessions(5, account=alice_account, start=0)
    small_rows, small = rows_and_queries(client)
    add_sessions(45, account=alice_account, start=5)
    big_rows, big = rows_and_queries(client)
    # The page holds 50 (billing.views.PAGE_SIZE): at 51 sessions the operator's first page is full as well.
    assert (small_rows, big_rows) == ((6, 50) if persona == "operator" else (5, 50))
    assert big == small
    shown = ChargingSession.objects.visible_to(request.getfixturevalue(persona))
    assert shown.filter(pk=foreign.pk).exists() == (persona == "operator")


def test_account_owner_sees_sessions_charged_with_own_cards_elsewhere_once(
    client_for, account_owner, alice_account, foreign_station, bob_account
):
    # visible_to has no DISTINCT (every join it makes is to-one): a session matching both the account and the
    # card condition is still listed and counted once.
    card = ChargeCard.objects.create(id_tag="ALICEROAM", account=alice_account, holder=account_owner)
    ChargingSession.objects.create(
        station=foreign_station, transaction_id=777, account=bob_account, card=card, started_at=T0
    )
    add_sessions(1, account=alice_account, start=0)
    ChargingSession.objects.filter(transaction_id=1000).update(card=card)
    rows, _ = rows_and_queries(client_for(account_owner))
    assert rows == 2
    assert ChargingSession.objects.visible_to(account_owner).count() == 2


def link(body: str, label: str) -> str | None:
    """The href of the pagination button labelled `label` ("Older", "Newer", "Newest", "Oldest"), or None."""
    found = re.search(r'<a class="button" href="([^"]*)">' + re.escape(label) + "</a>", body)
    return html.unescape(found.group(1)) if found else None


def walk(client, query=""):
    """Rows and queries of every kind of page: newest, older, older again, oldest, newer from the oldest, and
    the same walk's first two pages filtered (completed and not billed: a subquery per row)."""
    pages = {}

    def get(name, url):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        body = response.content.decode()
        pages[name] = (body.count('<td><a href="/sessions/'), len(ctx.captured_queries))
        return body

    first = get("newest", f"{LIST}?{query}")
    older = get("older", LIST + link(first, "Older"))
    get("older again", LIST + link(older, "Older"))
    oldest = get("oldest", LIST + link(first, "Oldest"))
    get("newer than the oldest", LIST + link(oldest, "Newer"))
    filtered = get("unbilled", f"{LIST}?{query}&status=completed&billed=unbilled")
    get("unbilled older", LIST + link(filtered, "Older"))
    return pages


@pytest.mark.parametrize("persona", ["operator", "account_owner"])
def test_deep_pages_cost_the_queries_of_the_first_at_two_sizes(
    request, client_for, persona, alice_account, bob_account, foreign_station, foreign_card
):
    # 160 and 460 sessions, pages of 50: every page, however deep, and filtered, makes the same queries.
    ChargingSession.objects.create(
        station=foreign_station, transaction_id=999, account=bob_account, card=foreign_card, started_at=T0
    )
    client = client_for(request.getfixturevalue(persona))
    add_sessions(160, account=alice_account, start=0)
    small = walk(client)
    add_sessions(300, account=alice_account, start=160)
    big = walk(client)
    assert {rows for rows, _ in [*small.values(), *big.values()]} == {50}
    assert len({queries for _, queries in [*small.values(), *big.values()]}) == 1, (small, big)


def test_the_pages_follow_each_other_and_keep_the_filters(client_for, operator, alice_account):
    add_sessions(120, account=alice_account, start=0)
    client = client_for(operator)
    first = client.get(LIST, {"status": "completed"}).content.decode()
    assert link(first, "Newer") is None and link(first, "Newest") is None
    assert link(first, "Older").startswith("?status=completed&after=")
    seen = []
    body = first
    while True:
        seen += re.findall(r'<tr data-session="(\d+)">', body)
        if link(body, "Older") is None:
            break
        body = client.get(LIST + link(body, "Older")).content.decode()
    expected = [
        str(pk) for pk in ChargingSession.objects.order_by("-started_at", "-id").values_list("pk", flat=True)
    ]
    assert seen == expected and len(seen) == 120
    # The oldest page is the last 50, with "Newer" leading back.
    oldest = client.get(LIST + link(first, "Oldest")).content.decode()
    assert re.findall(r'<tr data-session="(\d+)">', oldest) == expected[-50:]
    assert link(oldest, "Older") is None and link(oldest, "Oldest") is None
    assert (
        re.findall(r'<tr data-session="(\d+)">', client.get(LIST + link(oldest, "Newer")).content.decode())
        == (expected[-100:-50])
    )


def test_the_count_is_bounded(client_for, operator, alice_account, monkeypatch):
    add_sessions(12, account=alice_account, start=0)
    client = client_for(operator)
    assert "12 sessions" in client.get(LIST).content.decode()
    monkeypatch.setattr(views, "COUNT_LIMIT", 10)
    assert "more than 10 sessions" in client.get(LIST).content.decode()
