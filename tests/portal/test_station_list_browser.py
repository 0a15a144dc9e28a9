"""The Charging Stations list in a browser: online and setup state change without a reload; search as you type."""

import pytest
from playwright.sync_api import expect

from stations.models import Station
from tests.browser import login, shot
from tests.personas import PASSWORD, make_station


@pytest.mark.browser
def test_list_refreshes_state_live_and_searches_as_you_type(daphne_server, page, operator):
    make_station("LIVE-1", serial_number="SERIAL-LIVE-1")
    make_station("OTHER-2", serial_number="SERIAL-OTHER-2")
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/")
    row = page.locator("tr[data-station='LIVE-1']")
    expect(row).to_contain_text("Offline")
    expect(row).to_contain_text("Needs configuration")
    page.evaluate("window.__same_page = true")

    Station.objects.filter(ocpp_id="LIVE-1").update(
        is_connected=True, setup_state=Station.SetupState.ACTIVATION_PENDING
    )
    expect(row).to_contain_text("Online", timeout=20_000)  # the table polls every 5 s
    expect(row).to_contain_text("Activation pending")
    assert page.evaluate("window.__same_page === true")  # updated in place, no reload

    page.fill("input[name=q]", "serial-other")
    expect(page.locator("tr[data-station='LIVE-1']")).to_have_count(0)
    expect(page.locator("tr[data-station='OTHER-2']")).to_have_count(1)
    assert "q=serial-other" in page.url
    shot(page, "list-search")
