"""An operator starts and stops a session remotely from the station page, on a simulated charger over a real
socket, and sees its priced result (headless Chromium, real daphne process). Screenshots:
test-artifacts/<this test>/NN-*.png."""

from decimal import Decimal as D

import pytest
from playwright.sync_api import expect

from billing.models import ChargingSession
from tests.browser import login, shot
from tests.personas import PASSWORD
from tests.simulated import running_station


@pytest.mark.browser
def test_operator_starts_and_stops_a_session_remotely_and_sees_its_price(
    daphne_server, page, operator, own_station, foreign_card
):
    own_station.allow_roaming = True  # a public station: the other account's card pays the tariff
    own_station.price_per_kwh = D("0.30")
    own_station.price_per_session = D("0.50")
    own_station.price_per_hour = None  # wall-clock duration in a test is not deterministic
    own_station.save()

    # power_w=0: the meter moves only when the test moves it.
    with running_station(daphne_server, own_station.ocpp_id, power_w=0.0) as sim:
        sim.wait_booted()
        login(page, daphne_server, "operator", PASSWORD)
        page.goto(f"{daphne_server.http_url}/stations/{own_station.pk}/")
        panel = page.locator("#remote-panel")
        expect(panel).to_contain_text("No session running")
        shot(page, "01-station-page")

        panel.locator("input[name=id_tag]").fill(foreign_card.id_tag.lower())
        panel.locator("select[name=connector_id]").select_option("1")
        panel.get_by_role("button", name="Start session").click()
        expect(page.get_by_test_id("remote-result")).to_contain_text(
            "Remote start: the station answered Accepted"
        )
        shot(page, "02-remote-start-accepted")

        # The session appears once the station's StartTransaction is stored (the panel refreshes itself).
        expect(page.get_by_test_id("active-session")).to_have_count(1, timeout=30_000)
        sim.station.add_energy(1, 7500)
        shot(page, "03-session-running")

        page.get_by_test_id("active-session").get_by_role("button", name="Stop").click()
        expect(page.get_by_test_id("remote-result")).to_contain_text(
            "Remote stop: the station answered Accepted"
        )
        recent = page.get_by_test_id("recent-session")
        expect(recent).to_have_count(1, timeout=30_000)
        # 7.5 kWh x 0.30 = 2.25, + 0.50 session = 2.75, + 21% VAT (0.5775 -> 0.58) = 3.33
        expect(recent).to_contain_text("3.33 EUR")
        shot(page, "04-session-stopped-priced")

        recent.get_by_role("link").click()
        expect(page.get_by_test_id("session-status")).to_have_text("Completed")
        expect(page.get_by_test_id("session-energy")).to_have_text("7.500 kWh")
        expect(page.get_by_test_id("session-total")).to_contain_text("3.33 EUR")
        expect(page.locator("svg.chart[aria-label='Energy (kWh)']")).to_have_count(1)
        shot(page, "05-session-page")

        page.click("nav.menu >> text=Sessions")
        expect(page.locator("#session-table tbody tr")).to_have_count(1)
        expect(page.locator("#session-table tbody tr")).to_contain_text("3.33 EUR")
        shot(page, "06-sessions-list")

    session = ChargingSession.objects.get(station=own_station)
    assert (session.energy_wh, session.total, session.stop_reason, session.auth_reason) == (
        7500,
        D("3.33"),
        "Remote",
        "public",
    )
