"""Live pages (issue 13, item 3): the Sessions list shows new and ended sessions without a reload, with a running
session's elapsed time and cost so far; the header badge and the connectors follow the station going offline;
the "started" flash message goes once the job has finished."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import ChargingSession
from stations.models import ConfigurationJob, Station
from tests.browser import login, shot
from tests.personas import PASSWORD, make_station
from tests.simulated import running_station

POLL_MS = 20_000  # the live regions poll every 5 s


@pytest.mark.browser
def test_sessions_list_is_live_with_duration_and_cost_so_far(daphne_server, page, operator, own_station):
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/sessions/")
    expect(page.locator("#session-table")).to_contain_text("No sessions.")
    page.evaluate("window.__same_page = true")

    session = ChargingSession.objects.create(
        station=own_station,
        account=own_station.account,
        connector_id=1,
        transaction_id=7,
        id_tag="CARD-LIVE",
        started_at=timezone.now() - timedelta(minutes=30),
        energy_wh=5000,
        price_per_kwh=Decimal("0.30"),
        price_per_hour=Decimal("1.00"),
        vat_rate=Decimal("21"),
        currency="EUR",
    )
    row = page.locator(f"tr[data-session='{session.pk}']")
    expect(row).to_contain_text("Charging", timeout=POLL_MS)
    expect(row.locator(".session-duration")).to_contain_text("0:30:")
    # 5 kWh × 0.30 = 1.50 + 0.5 h × 1.00 = 0.50 → 2.00 + 21 % VAT = 2.42 (at 30 minutes; a few seconds more add
    # nothing after rounding to the cent)
    expect(row.locator(".session-total")).to_contain_text("2.42 EUR so far")

    ChargingSession.objects.filter(pk=session.pk).update(
        status=ChargingSession.Status.COMPLETED,
        stopped_at=timezone.now(),
        duration_seconds=1800,
        total=Decimal("2.42"),
    )
    expect(row).to_contain_text("Completed", timeout=POLL_MS)
    expect(row.locator(".session-total")).to_have_text("2.42 EUR")
    assert page.evaluate("window.__same_page === true")
    shot(page, "sessions-live")


@pytest.mark.browser
def test_station_going_offline_shows_in_the_badge_and_the_connectors(daphne_server, page, operator):
    station = make_station("GOING-OFF", is_connected=True, last_seen_at=timezone.now())
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{station.pk}/")
    expect(page.locator("#head-state")).to_contain_text("Online")
    expect(page.locator("tr[data-connector='1'] .connector-status")).to_have_text("Available")

    Station.objects.filter(pk=station.pk).update(is_connected=False, disconnected_at=timezone.now())
    expect(page.locator("#head-state")).to_contain_text("Offline", timeout=POLL_MS)
    expect(page.locator("tr[data-connector='1'] .connector-status")).to_contain_text("Unknown (offline)")
    expect(page.locator("tr[data-connector='1'] .connector-status")).to_contain_text(
        "last reported Available"
    )

    # The Configuration page: its offline banner and the header badge say the same.
    Station.objects.filter(pk=station.pk).update(is_connected=True)
    ConfigurationJob.objects.create(station=station, status=ConfigurationJob.Status.WAITING)
    page.goto(f"{daphne_server.http_url}/stations/{station.pk}/configuration/")
    expect(page.locator("#head-state")).to_contain_text("Online")
    Station.objects.filter(pk=station.pk).update(is_connected=False)
    expect(page.locator("#offline-notice")).to_be_visible(timeout=POLL_MS)
    expect(page.locator("#head-state")).to_contain_text("Offline")


@pytest.mark.browser
def test_the_started_message_goes_when_the_job_has_finished(daphne_server, page, operator):
    with running_station(daphne_server, "FLASH-1", reboot_keys=()) as sim:
        sim.wait_booted()
        station = Station.objects.get(ocpp_id="FLASH-1")
        login(page, daphne_server, "operator", PASSWORD)
        page.goto(f"{daphne_server.http_url}/stations/{station.pk}/configuration/")
        page.click("#auto-configuration")
        expect(page.locator("ul.messages")).to_contain_text("Auto Configuration started.")
        expect(page.locator("#job-status")).to_contain_text("Done", timeout=90_000)
        expect(page.locator("ul.messages")).to_have_count(0)
