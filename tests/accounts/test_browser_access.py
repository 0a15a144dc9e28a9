"""Headless Chromium against a real daphne process: customer activation, and what a
Field Service Technician sees."""

import pytest

from stations.models import Station
from tests.browser import login, shot
from tests.personas import PASSWORD

pytestmark = pytest.mark.browser


def test_account_admin_activates_a_pending_station(
    daphne_server, page, account_owner, pending_station, billing_plan, own_location, alice_account
):
    login(page, daphne_server, account_owner.username, PASSWORD)
    page.click("nav.menu >> text=Activate station")
    page.wait_for_url("**/activate/")
    # The sticker lookup answers while typing (htmx partial).
    page.fill("input[name=query]", pending_station.serial_number)
    page.wait_for_selector("#lookup .found")
    assert pending_station.ocpp_id in page.inner_text("#lookup")
    page.select_option("select[name=account]", label=alice_account.name)
    page.select_option("select[name=billing_plan]", label=billing_plan.name)
    page.select_option("select[name=location]", value=str(own_location.pk))
    shot(page, "1-activation-form")
    page.click("#activation-form button[type=submit]")
    page.wait_for_selector(".messages")
    assert f"Station {pending_station.ocpp_id} is now active in {alice_account.name}" in page.inner_text(
        ".messages"
    )
    shot(page, "2-activated")
    station = Station.objects.get(pk=pending_station.pk)
    assert station.setup_state == Station.SetupState.ACTIVE
    assert (station.account_id, station.billing_plan_id, station.location_id) == (
        alice_account.pk,
        billing_plan.pk,
        own_location.pk,
    )


def test_field_service_technician_sees_exactly_their_station_technical_only(
    daphne_server, page, fst, own_station, foreign_station, pending_station
):
    login(page, daphne_server, fst.username, PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/")
    listing = page.inner_text("main")
    shot(page, "1-station-list")
    assert own_station.ocpp_id in listing
    assert foreign_station.ocpp_id not in listing and pending_station.ocpp_id not in listing
    page.click(f"main >> text={own_station.ocpp_id}")
    page.wait_for_url(f"**/stations/{own_station.pk}/")
    # Technical settings are there; the Settings tab (prices, billing plan, access groups) is not.
    page.click(f"a[href='/stations/{own_station.pk}/configuration/']")
    page.wait_for_url(f"**/stations/{own_station.pk}/configuration/")
    body = page.inner_text("body")
    shot(page, "2-configuration")
    assert "Reset" in body
    assert "0.35" not in body and "price" not in body.lower()
    assert page.locator(f"a[href='/stations/{own_station.pk}/settings/']").count() == 0
    # Typing the Settings URL or another station's URL answers 404.
    response = page.goto(f"{daphne_server.http_url}/stations/{own_station.pk}/settings/")
    assert response.status == 404
    response = page.goto(f"{daphne_server.http_url}/stations/{foreign_station.pk}/")
    assert response.status == 404
