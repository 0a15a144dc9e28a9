"""Error pages and roles in a browser (issue 13, item 7): styled 403/404 (and no debug 404 listing every URL
under `make run`'s settings), the Field Service Technician's audit trail and Commands journal, the favicon."""

import json

import pytest
from playwright.sync_api import expect

from accounts.audit import audit_record
from stations.models import MessageLog
from stations.ocpp.masking import mask_id_tags
from tests.browser import login, shot
from tests.conftest import ROOT, start_daphne
from tests.personas import PASSWORD

CARD = "04A1B2C3D4E5F6"


@pytest.fixture
def local_server(transactional_db, tmp_path):
    """The server as `make run` starts it (scripts/run.sh): DEBUG off, plain http on 127.0.0.1."""
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert (
        'DJANGO_DEBUG="${DJANGO_DEBUG:-0}"' in run_sh
        and 'EFLUX_LOCAL_HTTP="${EFLUX_LOCAL_HTTP:-1}"' in run_sh
    )
    srv = start_daphne(tmp_path, DJANGO_DEBUG="0", EFLUX_LOCAL_HTTP="1")
    yield srv
    srv.stop()


@pytest.mark.browser
def test_make_run_shows_a_styled_404_without_the_url_list(local_server, page, operator):
    login(
        page, local_server, "operator", PASSWORD
    )  # plain http works: no TLS redirect, cookies not Secure-only
    response = page.goto(f"{local_server.http_url}/stations/999999/")
    assert response.status == 404
    expect(page.locator("#error-page h1")).to_have_text("Not found")
    expect(page.locator("nav.menu")).to_contain_text("Charging Stations")  # the portal's layout
    assert "URLconf" not in page.content() and "stations/<int:pk>/" not in page.content()
    shot(page, "404")


@pytest.mark.browser
def test_403_is_a_styled_page_with_the_reason(daphne_server, page, driver):
    login(page, daphne_server, driver.username, PASSWORD)
    response = page.goto(f"{daphne_server.http_url}/evse-ids/")
    assert response.status == 403
    expect(page.locator("#error-page h1")).to_have_text("Not allowed")
    expect(page.locator("#error-page")).to_contain_text("Only platform operators manage EVSE IDs.")
    expect(page.locator("nav.menu")).to_be_visible()
    shot(page, "403")


@pytest.mark.browser
def test_technician_sees_the_technical_audit_trail_and_no_card_idtags(
    daphne_server, page, fst, operator, own_station
):
    audit_record(
        actor=operator,
        action="station.reset",
        obj=own_station,
        station=own_station,
        account=own_station.account,
        changes={"type": "Soft"},
    )
    audit_record(
        actor=operator,
        action="station.settings",
        obj=own_station,
        station=own_station,
        account=own_station.account,
        changes={"price_per_kwh": ["0.30", "0.35"]},
    )
    frame = [2, "m-1", "Authorize", {"idTag": CARD}]
    MessageLog.objects.create(
        station=own_station,
        direction="in",
        kind=2,
        action="Authorize",
        message_id="m-1",
        payload=json.dumps(frame),
    )

    login(page, daphne_server, fst.username, PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{own_station.pk}/")
    audit = page.locator("section", has_text="Audit trail")
    expect(audit).to_contain_text("station.reset")
    expect(audit).not_to_contain_text("station.settings")  # prices stay hidden from technicians
    expect(audit).not_to_contain_text("Nothing yet.")
    page.click(".tabs >> text=Commands")
    expect(page.locator("#commands-table")).to_contain_text("Authorize")
    expect(page.locator("#commands-table")).to_contain_text('"idTag": "********"')
    assert CARD not in page.content()
    shot(page, "fst-commands-masked")

    page.context.clear_cookies()
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{own_station.pk}/commands/")
    expect(page.locator("#commands-table")).to_contain_text(CARD)  # who sees sessions sees the card


@pytest.mark.browser
def test_no_page_requests_a_missing_favicon(daphne_server, page, operator):
    failed = []
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/")
    page.wait_for_load_state("networkidle")
    href = page.locator("link[rel=icon]").get_attribute("href")
    icon = page.request.get(f"{daphne_server.http_url}{href}")
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/svg")
    assert failed == []


@pytest.mark.parametrize(
    "text,masked",
    [
        ('[2,"1","Authorize",{"idTag":"ABC"}]', '[2,"1","Authorize",{"idTag":"********"}]'),
        ('{"idTag": "A\\"B", "parentIdTag":"P"}', '{"idTag": "********", "parentIdTag":"********"}'),
        (
            '{"idToken":{"idToken":"X","type":"ISO14443"}}',
            '{"idToken":{"idToken":"********","type":"ISO14443"}}',
        ),
        ('{"idTagInfo":{"status":"Accepted"}}', '{"idTagInfo":{"status":"Accepted"}}'),
    ],
)
def test_mask_id_tags(text, masked):
    assert mask_id_tags(text) == masked
