"""Configure Connectors in a browser (issue 13, items 2 and 5): live validation never loses a keystroke nor
flags fields not reached yet; saving connectors of a station that never ran Auto Configuration and Reset does
not make it "Activation pending"."""

import pytest
from playwright.sync_api import expect

from stations.models import Station
from stations.services import evse_ids
from tests.browser import login, shot
from tests.personas import PASSWORD, make_station

KEY_DELAY_MS = 200  # a person typing (the issue: 150–250 ms per key)


@pytest.fixture
def station(transactional_db, operator):
    evse_ids.evse_id_batch_create(country_code="NL", operator_id="EFL", count=5, acting_user=operator)
    return make_station("TYPE-1", connectors=(0, 1, 2), setup_state=Station.SetupState.SETUP_IN_PROGRESS)


@pytest.mark.browser
def test_typing_at_a_human_pace_keeps_every_keystroke(daphne_server, page, station):
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{station.pk}/connectors/")
    # The live validation's answer arrives while the operator already types in the next field (a real
    # network's latency): hold the first validation requests until the typing is done.
    held = []
    page.route(
        "**/connectors/",
        lambda route: held.append(route) if route.request.method == "POST" else route.continue_(),
    )

    page.click("#id_c1-max_voltage")
    page.keyboard.type("400", delay=KEY_DELAY_MS)
    page.keyboard.press("Tab")  # change on the voltage: a validation request goes out
    page.keyboard.type("32", delay=KEY_DELAY_MS)
    assert held, "the voltage's change should have sent a validation request"
    with page.expect_response(lambda r: r.request.method == "POST" and "/connectors/" in r.url):
        for route in held:
            route.continue_()
    page.unroute("**/connectors/")
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")

    amperage = page.locator("#id_c1-max_amperage")
    expect(amperage).to_have_value("32")
    expect(amperage).to_be_focused()
    page.keyboard.press("Tab")  # change on the amperage: validated, power derived
    expect(page.locator("#c1-power")).to_contain_text("22.2 kW")  # √3 × 400 V × 32 A
    expect(page.locator("#c1-card .error")).to_have_count(0)
    expect(page.locator("#c2-card")).not_to_contain_text("required")  # not reached yet
    expect(amperage).to_have_value("32")
    shot(page, "connector-typed-at-human-pace")


@pytest.mark.browser
def test_connectors_before_auto_configuration_do_not_make_the_station_activation_pending(
    daphne_server, page, station
):
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{station.pk}/connectors/")
    for cid in (1, 2):
        page.fill(f"#id_c{cid}-max_voltage", "400")
        page.fill(f"#id_c{cid}-max_amperage", "32")
    page.click("#save-connectors")
    expect(page.locator("ul.messages")).to_contain_text("Connectors saved")
    expect(page.locator(".station-head")).not_to_contain_text("Activation pending")
    expect(page.locator("#notice")).to_contain_text("The device still needs further configuration")
    station.refresh_from_db()
    assert station.setup_state == Station.SetupState.SETUP_IN_PROGRESS

    # The notice's button starts Auto Configuration (not just the Configuration tab).
    page.click("#notice button, #notice a")
    expect(page.locator("#job-status")).to_be_visible()
    assert station.configuration_jobs.exists()
