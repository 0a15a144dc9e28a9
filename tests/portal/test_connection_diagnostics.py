"""Connection diagnostics (issue 13, item 1): a refused charger is visible, with the reason, its address and
a hint for the installer; on the station page live, in "Connection attempts" for identities that never got in;
Reset progress says why the station does not come back and gives up; the overview does not tick the reset.

Against a real daphne process and the simulated charger over a real socket."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets
from django.test import override_settings
from playwright.sync_api import expect

from stations.models import ConnectionAttempt, Station
from stations.services import admission
from stations.services.admission import station_set_password
from tests.browser import login, shot
from tests.conftest import start_daphne
from tests.personas import PASSWORD, make_station
from tests.simulated import running_station
from tests.stations.ocpp_helpers import connect, handshake

GIVE_UP_SECONDS = 20


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(
        tmp_path,
        OCPP_CALL_SWEEP_SECONDS="0.1",
        CONNECTION_ATTEMPT_WRITE_SECONDS="0",  # every retry written, so the counter can be read exactly
        STATION_WAIT_GIVE_UP_SECONDS=str(GIVE_UP_SECONDS),
    )
    yield srv
    srv.stop()


def run(coroutine):
    # Playwright's sync API keeps an event loop running in the test's thread: asyncio.run elsewhere.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def _bare(server, identity: str, subprotocols=None):
    """A handshake without an OCPP subprotocol: accepted and closed at once (OCPP-J 1.6 §3.2)."""
    try:
        async with await connect(server, identity, subprotocols=subprotocols) as ws:
            await asyncio.wait_for(ws.wait_closed(), 20)
            return ws.subprotocol
    except websockets.InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.browser
def test_a_wrong_password_shows_live_on_the_station_page_with_its_hint(server, page, operator):
    station = make_station("DIAG-PW")
    station_set_password(station=station, password="the-right-key-0123456789")
    login(page, server, "operator", PASSWORD)
    page.goto(f"{server.http_url}/stations/{station.pk}/")
    expect(page.locator("#connection-attempts")).to_contain_text("No refused connection.")
    page.evaluate("window.__same_page = true")

    with running_station(server, "DIAG-PW", password="a-wrong-key-0123456789", reconnect=True):
        notice = page.locator("#refused-notice")
        expect(notice).to_contain_text(
            "wrong HTTP Basic password", timeout=20_000
        )  # overview polls every 5 s
        expect(notice).to_contain_text("Re-enter its AuthorizationKey in the charger")
        row = page.locator("#connection-attempts tr[data-reason='wrong_password']")
        expect(row).to_contain_text("127.0.0.1")
        expect(row).to_contain_text("Wrong password")
        assert page.evaluate("window.__same_page === true")  # live, no reload
        shot(page, "wrong-password-on-station-page")


@pytest.mark.browser
def test_a_charger_that_sends_no_password_is_told_it_is_on_profile_0(server, page, operator):
    station = make_station("DIAG-P0")
    station_set_password(station=station, password="the-right-key-0123456789")
    assert run(handshake(server, "DIAG-P0")) == 401
    login(page, server, "operator", PASSWORD)
    page.goto(f"{server.http_url}/stations/{station.pk}/")
    expect(page.locator("#refused-hint")).to_contain_text("it is still on security profile 0")
    expect(page.locator("#connection-attempts tr[data-reason='no_credentials']")).to_have_count(1)


@pytest.mark.browser
def test_identities_that_never_got_in_are_listed_with_reason_and_hint(server, page, operator):
    assert run(handshake(server, "bad%20id")) == 404  # a space: not an identifierString
    for _ in range(3):  # a charger retrying: one line with a counter
        assert run(_bare(server, "NO-PROTO-1")) is None
    assert run(_bare(server, "SOAP-1", subprotocols=["ocpp1.5"])) is None
    assert not Station.objects.filter(ocpp_id__in=["NO-PROTO-1", "SOAP-1"]).exists()

    login(page, server, "operator", PASSWORD)
    page.click("nav.menu >> text=Connection attempts")
    no_proto = page.locator("tr[data-identity='NO-PROTO-1']")
    expect(no_proto).to_have_count(1)
    expect(no_proto.locator(".count")).to_have_text("3")
    expect(no_proto).to_contain_text("Set the protocol to OCPP 1.6 JSON")
    expect(page.locator("tr[data-identity='SOAP-1']")).to_contain_text("offered: ocpp1.5")
    expect(page.locator("tr[data-identity='bad id']")).to_contain_text("1–48 characters")
    shot(page, "connection-attempts")

    # Live: a new identity appears without a reload.
    page.evaluate("window.__same_page = true")
    assert run(_bare(server, "LATE-1")) is None
    expect(page.locator("tr[data-identity='LATE-1']")).to_have_count(1, timeout=20_000)
    assert page.evaluate("window.__same_page === true")


@pytest.mark.browser
def test_reset_progress_says_the_reconnect_is_refused_and_gives_up(server, page, operator):
    station = make_station("DIAG-RESET", connectors=())
    station_set_password(station=station, password="the-right-key-0123456789")
    with running_station(
        server, "DIAG-RESET", password="the-right-key-0123456789", reconnect=True, reboot_keys=()
    ) as sim:
        sim.wait_booted()
        login(page, server, "operator", PASSWORD)
        page.goto(f"{server.http_url}/stations/{station.pk}/configuration/")
        sim.station.password = "somebody-changed-it-on-site"  # the charger locks itself out at its reboot
        page.click("#reset-device")
        progress = page.locator("#reset-progress")
        expect(progress).to_contain_text("reconnect refused: wrong HTTP Basic password", timeout=30_000)
        expect(progress).to_contain_text("Re-enter its AuthorizationKey")
        expect(progress).to_contain_text("Gave up waiting", timeout=GIVE_UP_SECONDS * 1000 + 20_000)
        expect(page.locator("#reset-device")).to_be_enabled()
        shot(page, "reset-gave-up")

        page.click("nav.tabs >> text=Overview")
        step = page.locator("#setup-checklist li", has_text="Reset Device")
        expect(step).to_have_class("failed")
        expect(step).to_contain_text("did not come back")


# --- bounded in storage and rate (the service, without a server) ----------------------------------------


@pytest.mark.django_db
def test_retries_within_the_write_window_are_counted_not_written(django_assert_max_num_queries):
    admission._throttle.recent.clear()
    with override_settings(CONNECTION_ATTEMPT_WRITE_SECONDS=3600):
        first = admission.connection_refusal_record(
            ocpp_id="RETRY-1", reason=ConnectionAttempt.Reason.NO_SUBPROTOCOL, remote_addr="10.0.0.9"
        )
        assert first is not None and first.count == 1
        with django_assert_max_num_queries(0):  # a charger retrying every second writes nothing
            for _ in range(50):
                assert (
                    admission.connection_refusal_record(
                        ocpp_id="RETRY-1",
                        reason=ConnectionAttempt.Reason.NO_SUBPROTOCOL,
                        remote_addr="10.0.0.9",
                    )
                    is None
                )
    with override_settings(CONNECTION_ATTEMPT_WRITE_SECONDS=0):
        admission.connection_refusal_record(
            ocpp_id="RETRY-1", reason=ConnectionAttempt.Reason.NO_SUBPROTOCOL, remote_addr="10.0.0.9"
        )
    (row,) = ConnectionAttempt.objects.filter(ocpp_id="RETRY-1")
    assert row.count == 52  # the 50 retries in between were added by the next write


@pytest.mark.django_db
def test_storage_is_bounded_per_identity_and_for_unknown_identities():
    admission._throttle.recent.clear()
    reasons = list(ConnectionAttempt.Reason)
    with override_settings(
        CONNECTION_ATTEMPT_WRITE_SECONDS=0,
        CONNECTION_ATTEMPTS_PER_IDENTITY=3,
        CONNECTION_ATTEMPTS_UNKNOWN_MAX=5,
    ):
        for i in range(6):  # six different problems of one identity: the newest three are kept
            admission.connection_refusal_record(ocpp_id="MANY", reason=reasons[i], remote_addr="10.0.0.1")
        assert set(ConnectionAttempt.objects.filter(ocpp_id="MANY").values_list("reason", flat=True)) == set(
            reasons[3:6]
        )
        for i in range(10):  # a scan of random identities
            admission.connection_refusal_record(
                ocpp_id=f"SCAN-{i}", reason=ConnectionAttempt.Reason.INVALID_IDENTITY, remote_addr="10.0.0.2"
            )
        assert ConnectionAttempt.objects.filter(station__isnull=True).count() <= 5
        assert ConnectionAttempt.objects.filter(ocpp_id="SCAN-9").exists()


@pytest.mark.django_db
def test_new_rows_per_minute_are_bounded():
    admission._throttle.recent.clear()
    admission._throttle.minute = (0, 0)
    with override_settings(CONNECTION_ATTEMPT_WRITE_SECONDS=0, CONNECTION_ATTEMPT_NEW_ROWS_PER_MINUTE=4):
        for i in range(10):
            admission.connection_refusal_record(
                ocpp_id=f"FLOOD-{i}", reason=ConnectionAttempt.Reason.INVALID_IDENTITY, remote_addr="10.0.0.3"
            )
    assert ConnectionAttempt.objects.filter(ocpp_id__startswith="FLOOD-").count() <= 4
