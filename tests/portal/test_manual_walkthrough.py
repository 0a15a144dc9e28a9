"""The operator manual, step by step, in headless Chromium against a live daphne process and a simulated
charger (tests/simulated.py). Screenshots of every step: test-artifacts/<this test>/NN-*.png."""

import re

import pytest
from playwright.sync_api import expect

from stations.models import ConfigurationJob, Station, StationConfigurationKey
from tests.browser import login, shot
from tests.conftest import start_daphne
from tests.personas import PASSWORD
from tests.simulated import running_station

REJECTED = "ClockAlignedDataInterval"


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.2")
    yield srv
    srv.stop()


@pytest.mark.browser
def test_operator_onboards_a_new_station_as_the_manual_describes(
    server, page, operator, alice_account, own_location, billing_plan
):
    # reboot_keys=(): every accepted key is green at once; the rejected one is the only failure.
    with running_station(server, "EFL-NEW-01", reject_keys={REJECTED}, reboot_keys=()) as sim:
        sim.wait_booted()

        # Log in; the station "appears in the Charging Stations menu".
        login(page, server, "operator", PASSWORD)
        page.click("nav.menu >> text=Charging Stations")
        row = page.locator("tr[data-station='EFL-NEW-01']")
        expect(row).to_contain_text("Online")
        expect(row).to_contain_text("Needs configuration")
        shot(page, "01-charging-stations")

        # Click the station, recognisable by its OCPP ID in blue.
        row.locator("a.ocpp-id").click()
        expect(page.locator("#notice")).to_contain_text("still needs further configuration")
        shot(page, "02-station-needs-configuration")

        # Auto Configuration: rows go green live; one key is rejected, with its reason.
        page.locator("#notice button", has_text="Auto Configuration").click()  # starts it
        expect(page.locator("#job-status")).to_contain_text("Done", timeout=90_000)
        rejected = page.locator(f"tr[data-key='{REJECTED}']")
        expect(rejected).to_have_attribute("data-state", "rejected")
        expect(rejected.locator(".reason")).to_contain_text("rejected this value")
        states = page.locator("#config-keys tbody tr").evaluate_all("rows => rows.map(r => r.dataset.state)")
        assert states.count("accepted") == len(states) - 1
        expect(page.locator("#config-keys .check")).to_have_count(len(states) - 1)
        shot(page, "03-auto-configuration-one-rejected")

        # Fix All: only the failed component is configured again (the station accepts it this time).
        sim.station.configuration.reject_keys.clear()
        before = [p["key"] for a, p in list(sim.station.received) if a == "ChangeConfiguration"]
        page.click("#fix-all")
        expect(page.locator("#job-status")).to_contain_text("Fix All: Done", timeout=90_000)
        expect(rejected).to_have_attribute("data-state", "accepted")
        after = [p["key"] for a, p in list(sim.station.received) if a == "ChangeConfiguration"]
        assert after[len(before) :] == [REJECTED]
        expect(page.locator("#config-keys .check")).to_have_count(len(states))
        shot(page, "04-fix-all-every-check-green")

        # Reset Device: sent, station disconnects, comes back and boots (with its new AuthorizationKey).
        page.click("#reset-device")
        # Sent, disconnected, back and booted, configuration read back after the reboot.
        expect(page.locator("#reset-progress li.done")).to_have_count(4, timeout=90_000)
        expect(page.locator("#reset-progress")).to_contain_text("Station back online and booted")
        assert sim.station.boot_count >= 2
        shot(page, "05-reset-device-back-online")

        # EVSE IDs for autopick (manual p. 18), then Configure Connectors.
        page.click("nav.menu >> text=EVSE IDs")
        page.fill("input[name=country_code]", "NL")
        page.fill("input[name=operator_id]", "EFL")
        page.fill("input[name=count]", "10")
        page.click("#generate-evse-ids")
        expect(page.locator("#evse-available")).to_have_text("10")
        shot(page, "06-evse-ids-generated")

        page.click("nav.menu >> text=Charging Stations")
        page.locator("tr[data-station='EFL-NEW-01'] a.ocpp-id").click()
        page.locator("#notice a", has_text="Configure Connectors").click()
        expect(page.locator("#c1-evse")).to_have_text("NL*EFL*E000001")

        def change(selector, value):
            # Each change posts the connector's form back (htmx) and swaps in the validated block: wait for it.
            with page.expect_response(lambda r: r.request.method == "POST" and "/connectors/" in r.url):
                if selector.startswith("select"):
                    page.select_option(selector, value)
                else:
                    page.fill(selector, value)
                    page.locator(selector).dispatch_event("change")
            # htmx wires up the swapped-in block when it settles; the next change must come after that.
            page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")

        for prefix in ("c1", "c2"):
            # Type 2, socket, AC 3-phase are preselected ("for the majority of charging stations, type 2").
            expect(page.locator(f"select[name={prefix}-standard]")).to_have_value("type2")
            expect(page.locator(f"select[name={prefix}-power_type]")).to_have_value("ac_3_phase")
            change(f"input[name={prefix}-max_voltage]", "400")
            change(f"input[name={prefix}-max_amperage]", "32")
            expect(page.locator(f"#{prefix}-power")).to_contain_text("22.2 kW")
        # An invalid combination is explained next to the field, then corrected.
        change("select[name=c2-standard]", "ccs2")
        expect(page.locator("#field-c2-power_type .error")).to_contain_text("DC only")
        shot(page, "07a-connector-error-at-the-field")
        change("select[name=c2-standard]", "type2")
        expect(page.locator("#field-c2-power_type .error")).to_have_count(0)
        shot(page, "07-configure-connectors")
        page.click("#save-connectors")
        expect(page.locator("#notice")).to_contain_text("Ready to be activated")
        expect(page.locator("#overview-live")).to_contain_text("NL*EFL*E000001")
        expect(page.locator("#overview-live")).to_contain_text("NL*EFL*E000002")
        shot(page, "08-connectors-saved-activation-pending")

        # Open Settings: billing plan, account, location, a tariff; Save.
        page.locator("#notice a", has_text="Open Settings").click()
        page.select_option("select[name=billing_plan]", label=billing_plan.name)
        page.select_option("select[name=account]", label=alice_account.name)
        page.select_option("select[name=location]", label=own_location.name)
        page.check("input[name=allow_roaming]")
        page.fill("input[name=price_per_kwh]", "0.35")
        page.fill("input[name=price_per_session]", "0.50")
        page.fill("input[name=price_per_hour]", "1.20")
        shot(page, "09-open-settings")
        page.click("#save-settings")
        expect(page.locator(".messages")).to_contain_text("Settings saved")
        shot(page, "10-settings-saved")

        station = Station.objects.get(ocpp_id="EFL-NEW-01")
        assert station.setup_state == Station.SetupState.ACTIVE
        assert station.location == own_location and str(station.price_per_kwh) == "0.3500"
        assert not StationConfigurationKey.objects.filter(station=station).exclude(state="accepted").exists()
        assert ConfigurationJob.objects.filter(station=station).count() == 2

        # The station page shows the audit trail of everything the operator did.
        page.click(".tabs >> text=Overview")
        audit = page.locator("section", has_text="Audit trail")
        for action in (
            "station.auto_configuration",
            "station.fix_all",
            "station.reset",
            "station.connectors",
            "station.activate",
            "station.settings",
        ):
            expect(audit).to_contain_text(action)
        page.click("nav.menu >> text=Charging Stations")
        expect(page.locator("tr[data-station='EFL-NEW-01']")).to_contain_text("Active")
        shot(page, "11-list-active")
        page.click("text=EFL-NEW-01")
        page.click(".tabs >> text=Commands")
        expect(page.locator("#commands-table")).to_contain_text("ChangeConfiguration")
        assert re.search(r"AuthorizationKey", page.content())
        shot(page, "12-commands-journal")
