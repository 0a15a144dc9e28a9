"""Station pages: who may open what (own, foreign → 404, wrong role → 403) and htmx partial responses."""

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from stations.models import MessageLog, Station
from stations.services import configuration

PAGES = ["detail", "configuration", "connectors", "commands"]


def url(name, station):
    return reverse(f"stations:{name}", args=[station.pk])


@pytest.mark.parametrize("name", PAGES + ["settings"])
def test_operator_opens_every_station_page(client_for, operator, own_station, name):
    response = client_for(operator).get(url(name, own_station))
    assert response.status_code == 200
    assert b"ALICE-001" in response.content


@pytest.mark.parametrize("name", PAGES + ["settings"])
def test_account_owner_opens_own_station_pages(client_for, account_owner, own_station, name):
    assert client_for(account_owner).get(url(name, own_station)).status_code == 200


@pytest.mark.parametrize("name", PAGES + ["settings"])
def test_foreign_station_is_404(client_for, account_owner, foreign_station, name):
    assert client_for(account_owner).get(url(name, foreign_station)).status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_technician_opens_technical_pages_of_serviced_station(client_for, fst, own_station, name):
    assert client_for(fst).get(url(name, own_station)).status_code == 200


def test_technician_gets_404_for_settings(client_for, fst, own_station):
    # Settings carry prices; technicians see the technical side only (accounts.access).
    assert client_for(fst).get(url("settings", own_station)).status_code == 404


def test_technician_page_hides_settings_tab(client_for, fst, own_station):
    response = client_for(fst).get(url("detail", own_station))
    assert reverse("stations:settings", args=[own_station.pk]).encode() not in response.content


@pytest.mark.parametrize("name", PAGES + ["settings"])
def test_driver_sees_no_station(client_for, driver, own_station, name):
    assert client_for(driver).get(url(name, own_station)).status_code == 404


def test_anonymous_is_sent_to_login(client, own_station):
    response = client.get(url("detail", own_station))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("name", ["auto_configuration", "reset"])
def test_billing_admin_may_not_send_commands(client_for, billing_admin, own_station, name):
    assert client_for(billing_admin).post(url(name, own_station)).status_code == 403


@pytest.mark.parametrize("name", ["auto_configuration", "reset"])
def test_commands_to_foreign_station_are_404(client_for, account_owner, foreign_station, name):
    assert client_for(account_owner).post(url(name, foreign_station)).status_code == 404


def test_billing_admin_may_not_change_settings(client_for, billing_admin, own_station):
    assert (
        client_for(billing_admin).post(url("settings", own_station), {"currency": "EUR"}).status_code == 403
    )


def test_htmx_detail_request_returns_the_live_partial(client_for, operator, own_station):
    response = client_for(operator).get(url("detail", own_station), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="overview-live"' in body and "<html" not in body


def test_htmx_configuration_request_returns_the_live_partial(client_for, operator, own_station):
    response = client_for(operator).get(url("configuration", own_station), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="configuration-live"' in body and "<html" not in body


def test_commands_journal_filters_and_pages_newest_first(client_for, operator, own_station):
    for i in range(60):
        MessageLog.objects.create(
            station=own_station,
            direction=MessageLog.Direction.IN if i % 2 else MessageLog.Direction.OUT,
            kind=MessageLog.Kind.CALL,
            action="Heartbeat" if i % 3 else "StatusNotification",
            message_id=f"m{i:03d}",
            payload="[]",
        )
    c = client_for(operator)
    first = c.get(url("commands", own_station)).content.decode()
    assert "m059" in first and "m000" not in first  # newest first, 50 a page
    filtered = c.get(url("commands", own_station), {"action": "StatusNotification", "direction": "out"})
    body = filtered.content.decode()
    assert "m000" in body and "m006" in body and "m003" not in body and "m002" not in body
    partial = c.get(url("commands", own_station), {"page": 2}, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="commands-table"' in partial and "<html" not in partial and "m000" in partial


def test_notification_links_to_auto_configuration_for_a_new_station(client_for, operator, db):
    station = Station.objects.create(ocpp_id="NEW-1")
    body = client_for(operator).get(url("detail", station)).content.decode()
    assert "still needs further configuration" in body
    assert reverse("stations:configuration", args=[station.pk]) in body


def test_audit_trail_is_shown_on_the_station_page(client_for, operator, own_station):
    AuditEvent.objects.create(
        actor=operator,
        action="station.reset",
        object_type="stations.station",
        object_id=str(own_station.pk),
        station=own_station,
        account=own_station.account,
        changes={"type": "Soft"},
        result={"status": "Accepted"},
    )
    body = client_for(operator).get(url("detail", own_station)).content.decode()
    assert "station.reset" in body and "Accepted" in body and "operator" in body


def test_configuration_page_says_plainly_that_the_station_is_offline(client_for, operator, own_station):
    body = client_for(operator).get(url("configuration", own_station)).content.decode()
    assert 'id="offline-notice"' in body and "The station is offline" in body


def test_reset_of_an_offline_station_fails_visibly_and_is_audited(client_for, operator, own_station):
    client = client_for(operator)
    response = client.post(url("reset", own_station), {"kind": "Hard"}, follow=True)
    body = response.content.decode()
    assert "offline: the reset cannot be delivered" in body
    assert "Reset failed: Station offline" in body
    event = own_station.audit_events.get(action="station.reset")
    assert event.actor == operator and event.changes == {"type": "Hard"}
    assert event.result["call_status"] == "offline"


def test_reset_defaults_to_soft(client_for, operator, own_station):
    client_for(operator).post(url("reset", own_station))
    assert own_station.resets.get().kind == "Soft"


def test_waiting_job_page_keeps_polling_and_lets_the_operator_resume(client_for, operator, own_station):
    from stations.models import ConfigurationJob

    client = client_for(operator)
    client.post(url("auto_configuration", own_station), {"kind": "auto"})
    job = ConfigurationJob.objects.get(station=own_station)
    configuration.configuration_job_run(job_id=job.pk)  # offline station: the job waits
    body = client.get(url("configuration", own_station), HTTP_HX_REQUEST="true").content.decode()
    assert "continues automatically when it reconnects" in body
    assert 'hx-trigger="every 5s"' in body
    button = body[body.index('id="auto-configuration"') :][:40]
    assert "disabled" not in button


def test_audit_lines_show_before_and_after():
    from stations.templatetags.portal import audit_lines

    assert audit_lines({"price_per_kwh": [None, "0.35"], "keys": ["A", "B"]}) == [
        "price_per_kwh: — → 0.35",
        "keys: A, B",
    ]
    assert audit_lines({"1": {"format": ["", "socket"]}, "response": {"status": "Accepted"}}) == [
        "1.format: — → socket",
        "response.status: Accepted",
    ]


def test_a_job_whose_worker_died_is_resumed_by_the_next_click(operator, own_station, settings):
    from datetime import timedelta

    from django.utils import timezone

    from stations.models import ConfigurationJob

    settings.JOBS_IN_PROCESS = True
    stale = timezone.now() - timedelta(seconds=settings.JOB_STALL_SECONDS + 1)
    old = ConfigurationJob.objects.create(
        station=own_station,
        status=ConfigurationJob.Status.RUNNING,
        started_at=stale,
        heartbeat_at=stale,
        runner="dead-worker",
    )
    started = configuration.configuration_job_start(
        station=own_station, kind=ConfigurationJob.Kind.AUTO, acting_user=operator
    )
    assert not started.created and started.job.pk == old.pk and "resumed" in started.message
    old.refresh_from_db()
    assert (old.status, old.runner, old.interruptions) == (ConfigurationJob.Status.PENDING, "", 1)
