"""Configuration that tells the truth (issue 13, item 4), against the simulated charger over a real socket:
"Station reported" is the value read back after the change and after a reboot; an accepted value the station
does not hold is a failure, and so is a key that drifted in a reboot; "Done" is not green while keys failed;
a key this station cannot take is marked not applicable here, with who and why, instead of editing the
platform-wide profile."""

import pytest
from playwright.sync_api import expect

from accounts.models import AuditEvent
from stations.models import Station, StationConfigurationKey
from tests.browser import login, shot
from tests.conftest import start_daphne
from tests.personas import PASSWORD
from tests.simulated import running_station

KEY = "ClockAlignedDataInterval"  # the simulator's factory value is 0, the platform profile wants 900
JOB_MS = 90_000


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.1")
    yield srv
    srv.stop()


def open_configuration(page, server, ocpp_id):
    station = Station.objects.get(ocpp_id=ocpp_id)
    login(page, server, "operator", PASSWORD)
    page.goto(f"{server.http_url}/stations/{station.pk}/configuration/")
    return station


@pytest.mark.browser
def test_reported_is_read_back_after_the_change_and_drift_after_a_reboot_is_caught(server, page, operator):
    with running_station(server, "TRUTH-1", reboot_keys=()) as sim:
        sim.wait_booted()
        station = open_configuration(page, server, "TRUTH-1")
        page.click("#auto-configuration")
        expect(page.locator("#job-status")).to_have_text("Auto Configuration: Done", timeout=JOB_MS)
        row = page.locator(f"tr[data-key='{KEY}']")
        expect(row).to_have_attribute("data-state", "accepted")
        expect(row.locator(".reported")).to_have_text("900")  # read back, not the 0 from before the change
        shot(page, "read-back-after-change")

        # A reset: the whole configuration is read after the boot (a dated snapshot).
        page.click("#reset-device")
        expect(page.locator("#reset-progress li.done")).to_have_count(4, timeout=JOB_MS)
        expect(page.locator("#configuration-history li")).to_have_count(1)
        expect(page.locator("#configuration-history")).to_contain_text("first read")

        # Somebody resets the charger's value on site; after the next reboot the platform reads it back.
        sim.station.configuration.keys[KEY].value = "0"
        with page.expect_navigation():
            page.click("#reset-device")
        expect(row).to_have_attribute("data-state", "failed", timeout=JOB_MS)
        expect(row.locator(".reported")).to_have_text("0")
        expect(row.locator(".reason")).to_contain_text("reports '0' after its reboot")
        expect(page.locator("#fix-all")).to_be_enabled()
        newest = page.locator("#configuration-history li").first
        expect(newest).to_contain_text(f"{KEY} 900 → 0")
        shot(page, "drift-after-reboot")

        # The fleet view lists it.
        page.goto(f"{server.http_url}/configuration-drift/")
        expect(page.locator("tr[data-station='TRUTH-1']")).to_contain_text(
            f"{KEY}: required 900, station reports 0"
        )
    assert StationConfigurationKey.objects.get(station=station, key=KEY).read_at is not None


@pytest.mark.browser
def test_an_accepted_value_the_station_does_not_hold_is_not_a_green_done(server, page, operator):
    with running_station(server, "TRUTH-2", reboot_keys=()) as sim:
        sim.wait_booted()
        sim.station.configuration.ignore_keys.add(KEY.lower())  # answers Accepted, keeps 0
        open_configuration(page, server, "TRUTH-2")
        page.click("#auto-configuration")
        status = page.locator("#job-status")
        expect(status).to_contain_text("Done, 1 not configured", timeout=JOB_MS)
        expect(status).to_have_class("badge warn")
        row = page.locator(f"tr[data-key='{KEY}']")
        expect(row).to_have_attribute("data-state", "failed")
        expect(row.locator(".reason")).to_contain_text("accepted it but reports '0'")
        expect(row.locator(".check")).to_have_count(0)


@pytest.mark.browser
def test_a_key_this_station_cannot_take_is_marked_not_applicable_with_who_and_why(server, page, operator):
    with running_station(server, "TRUTH-3", reject_keys={KEY}, reboot_keys=()) as sim:
        sim.wait_booted()
        station = open_configuration(page, server, "TRUTH-3")
        page.click("#auto-configuration")
        expect(page.locator("#job-status")).to_contain_text("Done, 1 not configured", timeout=JOB_MS)
        row = page.locator(f"tr[data-key='{KEY}']")
        expect(row).to_have_attribute("data-state", "rejected")
        row.locator("summary", has_text="Not applicable here").click()
        row.locator("input[name=reason]").press_sequentially("no clock-aligned meter on this model", delay=20)
        row.locator("button", has_text="Accept for this station").click()
        expect(page.locator("ul.messages")).to_contain_text(f"{KEY} marked not applicable")
        expect(row).to_have_attribute("data-state", "not_applicable")
        expect(row.locator(".reason")).to_contain_text("no clock-aligned meter on this model")
        expect(row.locator(".reason")).to_contain_text("operator")
        expect(page.locator("#fix-all")).to_be_disabled()  # nothing left to fix
        expect(page.locator("#notice")).not_to_contain_text("failed")
        shot(page, "not-applicable")
    event = AuditEvent.objects.get(station=station, action="station.configuration_key")
    assert event.actor == operator and event.changes["state"] == ["rejected", "not_applicable"]
    # Only this station: the platform-wide profile still requires the key.
    from stations.services.profiles import profile_default

    assert profile_default().keys.filter(key=KEY).exists()


@pytest.mark.parametrize(
    "older,newer,diff",
    [
        ({"A": "1", "B": "x"}, {"A": "1", "B": "y"}, [("B", "x", "y")]),
        ({"A": "1"}, {"A": "1", "b": "2"}, [("b", None, "2")]),
        ({"A": "1", "C": "3"}, {"A": "1"}, [("C", "3", None)]),
        ({"A": "1"}, {"A": "1"}, []),
    ],
)
def test_snapshot_diff(older, newer, diff):
    from stations.configuration_snapshots import snapshot_diff

    assert snapshot_diff(older, newer) == diff


@pytest.mark.django_db
def test_the_daily_read_asks_every_connected_station_with_a_configuration(monkeypatch):
    from stations.services import configuration_read
    from tests.personas import make_station

    asked = []
    monkeypatch.setattr(configuration_read, "enqueue", lambda task, pk: asked.append((task, pk)))
    online = make_station("DAILY-ON", is_connected=True)
    offline = make_station("DAILY-OFF", is_connected=False)
    bare = make_station("DAILY-BARE", is_connected=True)  # never configured: nothing to compare
    for s in (online, offline):
        StationConfigurationKey.objects.create(station=s, key=KEY, desired_value="900", state="accepted")
    assert configuration_read.configuration_daily_reread() == 1
    assert asked == [(configuration_read.DAILY_TASK, online.pk)] and bare.pk not in [pk for _, pk in asked]
