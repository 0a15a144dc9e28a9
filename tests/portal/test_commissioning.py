"""The commissioning test and its report (issue 13, "what to build"), in a browser against the simulated charger
over a real socket: a connector that works passes every step; one whose meter never rises fails with that reason,
and the session the test started is stopped."""

import io

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from billing.models import ChargingSession
from stations.models import CommissioningRun, Station
from tests.browser import login, shot
from tests.conftest import start_daphne
from tests.personas import PASSWORD
from tests.simulated import running_station

RUN_MS = 90_000


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.1", COMMISSIONING_METER_SECONDS="8")
    yield srv
    srv.stop()


def report_pdf_text(page, server):
    """The report page's PDF, fetched with the browser's session as the Download PDF link does."""
    pdf = page.request.get(server.http_url + page.locator("#report-pdf-link").get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)


def run_commissioning(page, server, ocpp_id):
    station = Station.objects.get(ocpp_id=ocpp_id)
    Station.objects.filter(pk=station.pk).update(free_charging=True)  # the test card may charge here
    login(page, server, "operator", PASSWORD)
    page.goto(f"{server.http_url}/stations/{station.pk}/")
    page.click(".tabs >> text=Commissioning")
    page.select_option("select[name=connector_id]", "1")
    page.locator("input[name=id_tag]").press_sequentially("TESTCARD01", delay=30)
    page.click("#run-commissioning")
    expect(page.locator("ul.messages")).to_contain_text("Commissioning test started.")
    return station


@pytest.mark.browser
def test_a_working_connector_passes_and_gets_a_report(server, page, operator):
    with running_station(server, "COMM-OK", reboot_keys=(), power_w=11000.0) as sim:
        sim.wait_booted()
        station = run_commissioning(page, server, "COMM-OK")
        expect(page.locator("#commissioning-status")).to_have_text("Passed", timeout=RUN_MS)
        expect(page.locator("#commissioning-steps li.done")).to_have_count(5)
        shot(page, "commissioning-passed")
        page.click("#commissioning-report")
        expect(page.locator("#report-result")).to_have_text("Passed")
        expect(page.locator("#commissioning-report-page")).to_contain_text("COMM-OK")
        shot(page, "commissioning-report")
        text = report_pdf_text(page, server)
        assert "Commissioning report" in text and "COMM-OK" in text and "Passed" in text
    run = CommissioningRun.objects.get(station=station)
    assert run.energy_wh and run.energy_wh > 0 and run.session.status == ChargingSession.Status.COMPLETED
    actions = [a for a, _ in sim.station.received]
    assert {"TriggerMessage", "RemoteStartTransaction", "RemoteStopTransaction"} <= set(actions)


@pytest.mark.browser
def test_a_meter_that_never_rises_fails_with_that_reason_and_the_session_is_stopped(server, page, operator):
    with running_station(server, "COMM-NOMETER", reboot_keys=(), power_w=0.0) as sim:
        sim.wait_booted()
        station = run_commissioning(page, server, "COMM-NOMETER")
        expect(page.locator("#commissioning-status")).to_have_text("Failed", timeout=RUN_MS)
        expect(page.locator("#commissioning-reason")).to_contain_text("The meter did not rise within 8 s")
        expect(page.locator("#commissioning-steps li.failed")).to_contain_text("Meter rises while charging")
        page.click("#commissioning-report")
        expect(page.locator("#report-result")).to_have_text("Failed")
        expect(page.locator("#report-reason")).to_contain_text("The meter did not rise")
        shot(page, "commissioning-meter-failed")
        text = report_pdf_text(page, server)
        assert "COMM-NOMETER" in text and "Failed" in text and "The meter did not rise" in text
        run = CommissioningRun.objects.get(station=station)
        assert run.session is not None
        # The test does not leave the connector charging.
        assert "RemoteStopTransaction" in [a for a, _ in sim.station.received]
