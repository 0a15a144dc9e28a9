"""Sessions in the portal: list, page, CSV export, remote start/stop; each with its permission checks."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from billing import remote, services
from billing.models import ChargingSession

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def make_session(station, tag, *, connector=1, at=T0, energy=10_000, stopped=True):
    session, _ = services.transaction_start(
        station_id=station.pk, connector_id=connector, id_tag=tag, meter_start=0, timestamp=at.isoformat()
    )
    services.meter_values_record(
        station_id=station.pk,
        connector_id=connector,
        transaction_id=session.transaction_id,
        meter_value=[
            {
                "timestamp": (at + timedelta(minutes=30)).isoformat(),
                "sampled_value": [
                    {"value": str(energy // 2)},
                    {"value": "11000", "unit": "W", "measurand": "Power.Active.Import"},
                ],
            }
        ],
    )
    if stopped:
        services.transaction_stop(
            station_id=station.pk,
            transaction_id=session.transaction_id,
            meter_stop=energy,
            timestamp=(at + timedelta(hours=1)).isoformat(),
        )
    return ChargingSession.objects.get(pk=session.pk)


@pytest.fixture
def own_session(own_station, foreign_card):
    own_station.allow_roaming = True
    own_station.save()
    return make_session(own_station, foreign_card.id_tag)


@pytest.fixture
def foreign_session(foreign_station, foreign_card):
    return make_session(foreign_station, foreign_card.id_tag, at=T0 - timedelta(days=3))


@pytest.fixture
def driver_session(own_station, own_card):
    return make_session(own_station, own_card.id_tag, connector=2, at=T0 + timedelta(hours=2))


def listed(response):
    return response.content.decode()


def test_operator_sees_every_session(client_for, operator, own_session, foreign_session):
    body = listed(client_for(operator).get("/sessions/"))
    assert "ALICE-001" in body and "BOB-001" in body


def test_account_admin_sees_own_stations_sessions_only(
    client_for, account_owner, own_session, foreign_session
):
    body = listed(client_for(account_owner).get("/sessions/"))
    assert "ALICE-001" in body and "BOB-001" not in body


def test_technician_sees_no_sessions_and_no_menu_link(client_for, fst, own_session):
    response = client_for(fst).get("/sessions/")
    assert "No sessions." in listed(response)
    assert 'href="/sessions/"' not in listed(response)
    assert client_for(fst).get(f"/sessions/{own_session.pk}/").status_code == 404


def test_driver_sees_only_the_sessions_of_their_cards(client_for, driver, own_session, driver_session):
    client = client_for(driver)
    body = listed(client.get("/sessions/"))
    assert f"/sessions/{driver_session.pk}/" in body
    assert f"/sessions/{own_session.pk}/" not in body
    assert client.get(f"/sessions/{own_session.pk}/").status_code == 404


def test_foreign_session_page_is_404(client_for, account_owner, foreign_session):
    assert client_for(account_owner).get(f"/sessions/{foreign_session.pk}/").status_code == 404


def test_session_list_filters_by_station_card_and_date(
    client_for, operator, own_session, foreign_session, driver_session
):
    client = client_for(operator)
    body = listed(client.get("/sessions/", {"station": "BOB"}))
    assert f"/sessions/{foreign_session.pk}/" in body and f"/sessions/{own_session.pk}/" not in body
    body = listed(client.get("/sessions/", {"card": "alice-0001"}))
    assert f"/sessions/{driver_session.pk}/" in body and f"/sessions/{own_session.pk}/" not in body
    body = listed(client.get("/sessions/", {"date_from": "2026-11-19", "date_to": "2026-11-20"}))
    assert f"/sessions/{foreign_session.pk}/" not in body and f"/sessions/{own_session.pk}/" in body


def test_session_list_htmx_request_gets_the_table_partial(client_for, operator, own_session):
    response = client_for(operator).get("/sessions/", HTTP_HX_REQUEST="true")
    body = listed(response)
    assert body.startswith('<div id="session-table"') and "<html" not in body
    assert 'hx-trigger="every 5s"' in body  # the list refreshes itself (new and ended sessions)


def test_session_page_shows_price_breakdown_and_svg_chart(client_for, account_owner, own_session):
    body = listed(client_for(account_owner).get(f"/sessions/{own_session.pk}/"))
    # 10 kWh x 0.35 = 3.50, 21% VAT = 0.74 (0.735 rounds half up), total 4.24
    assert own_session.total == D("4.24")
    assert "4.24 EUR" in body and "3.50" in body and "0.74" in body
    assert body.count("<svg") >= 2 and "<polyline" in body
    assert "cdn" not in body.lower()


def test_csv_export_is_scoped_and_filtered(
    client_for, account_owner, operator, own_session, foreign_session, driver_session
):
    def rows(client, **params):
        response = client.get("/sessions/export.csv", params)
        assert response["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    mine = rows(client_for(account_owner))
    assert {r["Station"] for r in mine} == {"ALICE-001"} and len(mine) == 2
    assert rows(client_for(operator), station="BOB-001")[0]["Total incl. VAT"] == str(foreign_session.total)
    one = rows(client_for(account_owner), card=own_session.id_tag)
    assert [r["Transaction ID"] for r in one] == [str(own_session.transaction_id)]
    assert one[0]["Energy (Wh)"] == "10000" and one[0]["VAT %"] == "21.00"


# --- remote start / stop -----------------------------------------------------------------------


class FakeCall:
    """What stations.calls.call_and_wait returns, as the station answered (the station is the outside world)."""

    def __init__(self, status="answered", response=None, error_code="", error_description=""):
        self.status, self.response = status, response
        self.error_code, self.error_description = error_code, error_description

    def get_status_display(self):
        return self.status


@pytest.fixture
def station_answers(monkeypatch):
    class Sent(list):
        answer = FakeCall(response={"status": "Accepted"})

    sent = Sent()

    def fake(*, station, action, payload, acting_user):
        sent.append((station.ocpp_id, action, payload))
        return sent.answer

    monkeypatch.setattr(remote, "_call", fake)
    return sent


def test_account_admin_starts_a_session_remotely_and_sees_the_answer(
    client_for, account_owner, own_station, own_card, station_answers
):
    response = client_for(account_owner).post(
        f"/stations/{own_station.pk}/remote-start/",
        {"id_tag": "alice-0001", "connector_id": 2},
        HTTP_HX_REQUEST="true",
    )
    assert station_answers == [
        ("ALICE-001", "RemoteStartTransaction", {"connectorId": 2, "idTag": "ALICE0001"})
    ]
    body = listed(response)
    assert "the station answered Accepted" in body and 'id="remote-panel"' in body
    from accounts.models import AuditEvent

    assert AuditEvent.objects.filter(action="session.remote_start", station=own_station).exists()


def test_remote_start_shows_a_rejection_and_a_callerror(
    client_for, operator, own_station, own_card, station_answers
):
    client = client_for(operator)
    station_answers.answer = FakeCall(response={"status": "Rejected"})
    r = client.post(
        f"/stations/{own_station.pk}/remote-start/",
        {"id_tag": own_card.id_tag, "connector_id": 1},
        HTTP_HX_REQUEST="true",
    )
    assert "the station answered Rejected" in listed(r)
    station_answers.answer = FakeCall(status="call_error", error_code="NotSupported", error_description="no")
    r = client.post(
        f"/stations/{own_station.pk}/remote-start/",
        {"id_tag": own_card.id_tag, "connector_id": 1},
        HTTP_HX_REQUEST="true",
    )
    assert "CALLERROR NotSupported" in listed(r)
    station_answers.answer = FakeCall(status="offline")
    r = client.post(
        f"/stations/{own_station.pk}/remote-start/",
        {"id_tag": own_card.id_tag, "connector_id": 1},
        HTTP_HX_REQUEST="true",
    )
    assert "the station is offline" in listed(r)


def test_remote_start_with_a_refused_card_sends_nothing(
    client_for, operator, own_station, own_card, station_answers
):
    own_card.status = "blocked"
    own_card.save()
    r = client_for(operator).post(
        f"/stations/{own_station.pk}/remote-start/",
        {"id_tag": own_card.id_tag, "connector_id": 1},
        HTTP_HX_REQUEST="true",
    )
    assert station_answers == []
    assert "Card is blocked (Blocked)" in listed(r)


def test_account_admin_cannot_remote_start_with_another_accounts_card(
    client_for, account_owner, own_station, foreign_card, station_answers
):
    r = client_for(account_owner).post(
        f"/stations/{own_station.pk}/remote-start/",
        {"id_tag": foreign_card.id_tag, "connector_id": 1},
        HTTP_HX_REQUEST="true",
    )
    assert station_answers == [] and "No such card in your accounts" in listed(r)


@pytest.mark.parametrize(
    "who,status", [("billing_admin", 403), ("fst", 404), ("foreign_user", 404), ("driver", 404)]
)
def test_remote_start_permissions(client_for, personas, own_station, own_card, station_answers, who, status):
    r = client_for(personas[who]).post(
        f"/stations/{own_station.pk}/remote-start/", {"id_tag": own_card.id_tag, "connector_id": 1}
    )
    assert r.status_code == status and station_answers == []


def test_remote_stop_sends_the_transaction_id_and_shows_the_answer(
    client_for, account_owner, own_station, own_card, station_answers
):
    session = make_session(own_station, own_card.id_tag, stopped=False)
    r = client_for(account_owner).post(f"/sessions/{session.pk}/remote-stop/", HTTP_HX_REQUEST="true")
    assert station_answers == [
        ("ALICE-001", "RemoteStopTransaction", {"transactionId": session.transaction_id})
    ]
    assert "Remote stop: the station answered Accepted" in listed(r)


def test_remote_stop_of_a_finished_session_sends_nothing(client_for, operator, own_session, station_answers):
    r = client_for(operator).post(f"/sessions/{own_session.pk}/remote-stop/", HTTP_HX_REQUEST="true")
    assert station_answers == [] and "not running" in listed(r)


def test_remote_stop_of_a_foreign_session_is_404(
    client_for, account_owner, foreign_card, foreign_station, station_answers
):
    session = make_session(foreign_station, foreign_card.id_tag, stopped=False)
    assert client_for(account_owner).post(f"/sessions/{session.pk}/remote-stop/").status_code == 404
    assert station_answers == []


def test_remote_panel_partial_lists_running_sessions_for_admins_only(
    client_for, account_owner, billing_admin, own_station, own_card
):
    session = make_session(own_station, own_card.id_tag, stopped=False)
    body = listed(
        client_for(account_owner).get(f"/stations/{own_station.pk}/remote-panel/", HTTP_HX_REQUEST="true")
    )
    assert f"/sessions/{session.pk}/remote-stop/" in body and 'hx-trigger="every 3s"' in body
    assert client_for(billing_admin).get(f"/stations/{own_station.pk}/remote-panel/").status_code == 403


def test_sessions_menu_link_for_roles_that_see_sessions(client_for, operator, billing_admin, driver, fst):
    for user, shown in ((operator, True), (billing_admin, True), (driver, True), (fst, False)):
        body = listed(client_for(user).get("/sessions/"))
        assert ('href="/sessions/"' in body) is shown, user


def test_technician_and_foreign_admin_export_nothing_of_ours(
    client_for, fst, foreign_user, own_session, driver_session
):
    def export(user):
        response = client_for(user).get("/sessions/export.csv")
        return b"".join(response.streaming_content).decode().strip().splitlines()

    assert len(export(fst)) == 1  # header only
    # Bob's admin sees the session charged with Bob's card at Alice's station, not Alice's own card's one.
    bob = export(foreign_user)
    assert len(bob) == 2 and str(own_session.transaction_id) in bob[1]


def test_remote_stop_from_the_session_page_returns_there_with_the_answer(
    client_for, account_owner, own_station, own_card, station_answers
):
    session = make_session(own_station, own_card.id_tag, stopped=False)
    client = client_for(account_owner)
    assert "Stop remotely" in listed(client.get(f"/sessions/{session.pk}/"))
    response = client.post(f"/sessions/{session.pk}/remote-stop/", {"next": "session"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/sessions/{session.pk}/"
    assert "Remote stop: the station answered Accepted" in listed(response)


def test_billing_admin_sees_the_session_but_no_stop_button(client_for, billing_admin, own_station, own_card):
    session = make_session(own_station, own_card.id_tag, stopped=False)
    body = listed(client_for(billing_admin).get(f"/sessions/{session.pk}/"))
    assert "Stop remotely" not in body and "Priced when the station reports the stop" in body


def test_running_session_page_refreshes_itself_through_its_htmx_partial(
    client_for, account_owner, own_station, own_card
):
    session = make_session(own_station, own_card.id_tag, stopped=False)
    client = client_for(account_owner)
    assert 'hx-trigger="every 5s"' in listed(client.get(f"/sessions/{session.pk}/"))
    partial = listed(client.get(f"/sessions/{session.pk}/", HTTP_HX_REQUEST="true"))
    assert partial.startswith('<div id="session-live"') and "<html" not in partial
    assert "5.000 kWh" in partial  # live progress from the meter values


def test_finished_session_page_does_not_poll(client_for, account_owner, own_session):
    assert 'hx-trigger="every 5s"' not in listed(
        client_for(account_owner).get(f"/sessions/{own_session.pk}/")
    )
