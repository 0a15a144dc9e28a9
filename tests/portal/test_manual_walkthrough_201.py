"""The operator manual's onboarding flow for an OCPP 2.0.1 charger, in the same portal pages, in headless
Chromium against a live daphne process and a simulated 2.0.1 charger (stations/simulator/v201.py), with a 1.6
charger connected beside it. Screenshots of every step: test-artifacts/<this test>/NN-*.png."""

import pytest
from playwright.sync_api import expect

from stations.models import Station, StationConfigurationKey
from tests.browser import login, shot
from tests.conftest import start_daphne
from tests.personas import PASSWORD
from tests.simulated import running_station, running_station_201

REJECTED = "AuthCtrlr.LocalPreAuthorize"
REBOOT = "OCPPCommCtrlr.WebSocketPingInterval"


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.2")
    yield srv
    srv.stop()


@pytest.mark.browser
def test_operator_onboards_a_201_station_as_the_manual_describes(
    server, page, operator, alice_account, own_location, billing_plan
):
    with (
        running_station(server, "EFL-OLD-16", reboot_keys=()) as old,
        running_station_201(
            server, "EFL-NEW-201", reject_variables={REJECTED}, reboot_variables={REBOOT}
        ) as sim,
    ):
        old.wait_booted()
        sim.wait_booted()

        # Both appear in the Charging Stations menu, each with its OCPP version.
        login(page, server, "operator", PASSWORD)
        page.click("nav.menu >> text=Charging Stations")
        row = page.locator("tr[data-station='EFL-NEW-201']")
        expect(row).to_contain_text("Online")
        expect(row).to_contain_text("Needs configuration")
        expect(row.locator(".ocpp-version")).to_have_text("2.0.1")
        expect(page.locator("tr[data-station='EFL-OLD-16'] .ocpp-version")).to_have_text("1.6")
        shot(page, "01-both-versions-listed")

        row.locator("a.ocpp-id").click()
        expect(page.locator("#notice")).to_contain_text("still needs further configuration")
        expect(page.locator("body")).to_contain_text("2.0.1")
        shot(page, "02-station-needs-configuration")

        # Auto Configuration reads the device model and sets each variable, one result per row.
        page.locator("#notice button", has_text="Auto Configuration").click()  # starts it
        expect(page.locator("#job-status")).to_contain_text("Done", timeout=90_000)
        rejected = page.locator(f"tr[data-key='{REJECTED}']")
        expect(rejected).to_have_attribute("data-state", "rejected")
        expect(rejected.locator(".reason")).to_contain_text("SetVariables: Rejected")
        expect(page.locator(f"tr[data-key='{REBOOT}']")).to_have_attribute("data-state", "reboot_required")
        expect(page.locator("tr[data-key='OCPPCommCtrlr.HeartbeatInterval']")).to_have_attribute(
            "data-state", "accepted"
        )
        expect(page.locator("tr[data-key='SecurityCtrlr.BasicAuthPassword']")).to_have_attribute(
            "data-state", "accepted"
        )
        expect(page.locator("#config-keys thead")).to_contain_text("Component.Variable")
        assert [a for a, _ in sim.station.received][:1] == ["GetBaseReport"]
        shot(page, "03-auto-configuration-per-variable-results")

        # Fix All: only the rejected variable is sent again.
        sim.station.configuration.reject.clear()
        before = len([a for a, _ in sim.station.received if a == "SetVariables"])
        page.click("#fix-all")
        expect(page.locator("#job-status")).to_contain_text("Fix All: Done", timeout=90_000)
        expect(rejected).to_have_attribute("data-state", "accepted")
        sent = [p for a, p in list(sim.station.received) if a == "SetVariables"][before:]
        assert [p["setVariableData"][0]["variable"]["name"] for p in sent] == ["LocalPreAuthorize"]
        shot(page, "04-fix-all")

        # Reset: the 2.0.1 types are offered, On idle preselected; the charger reboots and comes back.
        expect(page.locator("input[name=kind][value=OnIdle]")).to_be_checked()
        expect(page.locator("input[name=kind][value=Immediate]")).to_have_count(1)
        expect(page.locator("input[name=kind][value=Soft]")).to_have_count(0)
        page.click("#reset-device")
        # Four steps done: the last is the read-back with GetVariables after the boot.
        expect(page.locator("#reset-progress li.done")).to_have_count(4, timeout=90_000)
        expect(page.locator("#reset-progress li.done").last).to_contain_text("Configuration read back")
        expect(page.locator(f"tr[data-key='{REBOOT}']")).to_have_attribute("data-state", "accepted")
        assert sim.station.boot_count >= 2 and sim.station.boot_reason == "RemoteReset"
        shot(page, "05-reset-on-idle-back-online")

        # Configure Connectors: the platform's connectors are the charger's EVSE + connector pairs.
        page.click(".tabs >> text=Connectors")
        expect(page.locator("#c1-card h3")).to_contain_text("EVSE 1, connector 1")
        expect(page.locator("#c2-card h3")).to_contain_text("EVSE 2, connector 1")
        shot(page, "06-connectors-map-to-evses")

        # Settings and activation are the same pages as for 1.6.
        page.click(".tabs >> text=Settings")
        page.select_option("select[name=billing_plan]", label=billing_plan.name)
        page.select_option("select[name=account]", label=alice_account.name)
        page.select_option("select[name=location]", label=own_location.name)
        page.fill("input[name=price_per_kwh]", "0.35")
        page.click("#save-settings")
        expect(page.locator(".messages")).to_contain_text("Settings saved")
        shot(page, "07-settings-saved")

        station = Station.objects.get(ocpp_id="EFL-NEW-201")
        assert station.password_required  # the BasicAuthPassword was proven on the reconnect and adopted
        assert not StationConfigurationKey.objects.filter(station=station).exclude(state="accepted").exists()
        page.click(".tabs >> text=Commands")
        expect(page.locator("#commands-table")).to_contain_text("SetVariables")
        expect(page.locator("#commands-table")).to_contain_text("NotifyReport")
        assert sim.station.password not in page.content()
        shot(page, "08-commands-journal")
