"""Paging the Sessions and Charging Stations lists in a browser (keyset pages, eflux/pagination.py): "Older" /
"Newer" and "Next" / "Previous" / "Last" links clicked like a person; a page further down keeps its sessions
while new ones arrive and the table polls; "Newest" then shows the new ones at the top."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from billing.models import ChargingSession
from stations.models import Station
from tests.browser import login, shot
from tests.personas import PASSWORD, make_station

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def sessions(station, first_tx: int, n: int, start: datetime):
    """n completed sessions on one station, one an hour going back from `start`."""
    ChargingSession.objects.bulk_create(
        ChargingSession(
            station=station,
            connector_id=1,
            transaction_id=first_tx + i,
            status=ChargingSession.Status.COMPLETED,
            id_tag=f"TAG{first_tx + i}",
            account=station.account,
            started_at=start - timedelta(hours=i),
            stopped_at=start - timedelta(hours=i) + timedelta(minutes=30),
        )
        for i in range(n)
    )


def shown(page) -> list[str]:
    return page.locator("#session-table tr[data-session]").evaluate_all(
        "rows => rows.map(r => r.dataset.session)"
    )


@pytest.mark.browser
def test_sessions_pages_older_and_newer_stay_put_while_new_sessions_arrive(daphne_server, page, operator):
    station = make_station("PAGING-1")
    sessions(station, 1, 120, T0)
    ordered = [
        str(pk) for pk in ChargingSession.objects.order_by("-started_at", "-id").values_list("pk", flat=True)
    ]
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/sessions/")
    expect(page.locator("#session-table")).to_contain_text("120 sessions")
    assert shown(page) == ordered[:50]
    expect(page.get_by_role("link", name="Newer")).to_have_count(0)

    page.get_by_role("link", name="Older").click()
    expect(page).to_have_url(re.compile(r"after="))
    expect(page.locator(f"tr[data-session='{ordered[50]}']")).to_have_count(1)
    assert shown(page) == ordered[50:100]
    shot(page, "sessions-older")

    # New sessions start while the second page is open: its 5 s poll keeps the same 50 sessions.
    sessions(station, 1000, 3, T0 + timedelta(days=1))
    expect(page.locator("#session-table")).to_contain_text("123 sessions", timeout=20_000)
    assert shown(page) == ordered[50:100]

    page.get_by_role("link", name="Newer").click()
    expect(page.locator(f"tr[data-session='{ordered[0]}']")).to_have_count(1)
    assert shown(page) == ordered[:50]  # the 50 just before, with the new ones above them
    expect(page.get_by_role("link", name="Newer")).to_have_count(1)

    page.get_by_role("link", name="Newest").click()
    expect(page.locator("#session-table tr[data-session]").first).to_contain_text("2026-11-21 08:00")
    assert shown(page)[3:] == ordered[:47]

    page.get_by_role("link", name="Oldest").click()
    expect(page.locator(f"tr[data-session='{ordered[-1]}']")).to_have_count(1)
    assert shown(page) == ordered[-50:]
    expect(page.get_by_role("link", name="Older")).to_have_count(0)
    shot(page, "sessions-oldest")


@pytest.mark.browser
def test_station_pages_next_previous_last_keep_the_search(daphne_server, page, operator):
    Station.objects.bulk_create(Station(ocpp_id=f"PG-{i:03d}") for i in range(60))
    make_station("ELSEWHERE-1")
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/")
    page.fill("input[name=q]", "PG-")
    expect(page.locator("tr[data-station='ELSEWHERE-1']")).to_have_count(0)
    expect(page.locator(".pagination")).to_contain_text("PG-000 – PG-024 · 60 stations")

    page.get_by_role("link", name="Next →").click()
    expect(page.locator(".pagination")).to_contain_text("PG-025 – PG-049 · 60 stations")
    assert "q=PG-" in page.url and "after=" in page.url
    page.get_by_role("link", name="Last »").click()
    expect(page.locator(".pagination")).to_contain_text("PG-035 – PG-059")
    expect(page.get_by_role("link", name="Next →")).to_have_count(0)
    page.get_by_role("link", name="← Previous").click()
    expect(page.locator(".pagination")).to_contain_text("PG-010 – PG-034")
    page.get_by_role("link", name="« First").click()
    expect(page.locator(".pagination")).to_contain_text("PG-000 – PG-024")
    expect(page.locator("tr[data-station='ELSEWHERE-1']")).to_have_count(0)  # still searching for PG-
    shot(page, "stations-first")
