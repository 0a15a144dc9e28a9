"""Billing as people do it, in headless Chromium against a live daphne process and a simulated charger:
the operator creates a plan and assigns it in Settings, the owner accepts self-billing, the charger charges
with a roaming card and a visitor's card, the period is run (as the beat entry runs it, at the start of the
next month), and the owner finds the usage invoice and the reimbursement invoice with the right sessions,
opens the PDF and downloads the lines CSV whose totals match. Screenshots: test-artifacts/<this test>/."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect
from pypdf import PdfReader

from accounts.models import ChargeCard
from billing import periods
from billing.models import BillingPlan, ChargingSession, Invoice, Subscription
from billing.services.runs import billing_run
from tests.browser import login, shot
from tests.conftest import start_daphne
from tests.personas import PASSWORD
from tests.simulated import running_station
from tests.waiting import wait_for


@pytest.fixture
def server(transactional_db, tmp_path):
    srv = start_daphne(tmp_path, OCPP_CALL_SWEEP_SECONDS="0.2")
    yield srv
    srv.stop()


def _charge(sim, id_tag, wh):
    tx = sim.swipe(id_tag, 1)
    assert tx is not None, f"{id_tag} was not accepted"
    sim.station.add_energy(1, wh)
    sim.call(sim.station.stop_transaction, connector_id=1)
    wait_for(lambda: ChargingSession.objects.filter(transaction_id=tx, status="completed").exists())
    return ChargingSession.objects.get(transaction_id=tx)


@pytest.mark.browser
def test_plan_settings_charging_run_and_the_owner_reads_both_invoices(
    server, browser, page, operator, account_owner, own_station, foreign_card, alice_account
):
    own_station.allow_roaming = True
    own_station.save()
    ChargeCard.objects.create(id_tag="ROAM0042", kind=ChargeCard.Kind.ROAMING, roaming_party="NL-GFX")

    # The operator creates a station plan; a wrong currency is refused next to the field first.
    login(page, server, "operator", PASSWORD)
    page.click("nav.menu >> text=Billing plans")
    page.click("text=New billing plan")
    page.fill("input[name=name]", "Plus")
    page.select_option("select[name=kind]", "station")
    page.fill("input[name=currency]", "xx")
    page.fill("input[name=price_per_period]", "5.00")
    page.fill("input[name=price_per_connector_period]", "4.00")
    page.fill("input[name=platform_fee_per_kwh]", "0.02")
    page.click("#plan-form button[type=submit]")
    expect(page.locator(".has-error")).to_contain_text("not an ISO 4217 currency")
    page.fill("input[name=currency]", "eur")
    page.click("#plan-form button[type=submit]")
    expect(page.locator("#versions")).to_contain_text("5.0000")
    shot(page, "01-plan-created")
    assert BillingPlan.objects.get(name="Plus").currency == "EUR"

    # Settings step 8: the plan the account owner pays.
    page.goto(f"{server.http_url}/stations/{own_station.pk}/settings/")
    page.select_option("select[name=billing_plan]", label="Plus")
    page.click("#save-settings")
    expect(page.locator(".messages")).to_contain_text("Settings saved")
    shot(page, "02-plan-assigned")
    sub = Subscription.objects.get(station=own_station, ends_on=None)
    assert (sub.plan.name, sub.account) == ("Plus", alice_account)

    # The owner accepts self-billing with an IBAN (a mistyped one is refused at the field).
    owner = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    owner.set_default_timeout(20_000)
    op = owner.new_page()
    op.artifacts_dir = page.artifacts_dir
    login(op, server, "alice", PASSWORD)
    op.goto(f"{server.http_url}/accounts/{alice_account.pk}/self-billing/")
    op.select_option("select[name=supplier_kind]", "private")
    op.fill("textarea[name=address]", "Damrak 1\n1012 LG Amsterdam")
    op.fill("input[name=iban]", "NL91 ABNA 0417 1643 01")
    op.check("input[name=accept]")
    op.click("#self-billing-form button[type=submit]")
    expect(op.locator(".has-error")).to_have_count(1)
    expect(op.locator(".has-error")).to_contain_text("Not a valid IBAN")
    op.fill("input[name=iban]", "NL91 ABNA 0417 1643 00")
    op.check("input[name=accept]")
    op.click("#self-billing-form button[type=submit]")
    expect(op.locator(".messages")).to_contain_text("Self-billing agreement recorded")

    # A simulated charger charges with a roaming card and with a visitor's card.
    with running_station(server, own_station.ocpp_id) as sim:
        sim.wait_booted()
        roaming = _charge(sim, "ROAM0042", 10_000)
        visitor = _charge(sim, foreign_card.id_tag, 4_000)
    assert (roaming.auth_reason, visitor.auth_reason) == ("roaming", "public")

    # The period is run as the beat entry runs it, at the start of the next month.
    now = timezone.now()
    period = periods.period_of(now, settings.BILLING_TIMEZONE)
    year, month = periods.parse_period(period)
    _, end = periods.month_bounds(year, month, settings.BILLING_TIMEZONE)
    summary = billing_run(period=period, issue=True, now=end + timedelta(hours=3))
    assert len(summary.self_billing) == 1, summary.line()

    # The owner finds both documents.
    op.goto(f"{server.http_url}/stations/")
    op.click("nav.menu >> text=Invoices")
    table = op.locator("#invoices")
    expect(table).to_contain_text("Self-billing reimbursement invoice")
    usage = Invoice.objects.get(kind="usage", account=alice_account)
    sb = Invoice.objects.get(kind="self_billing", account=alice_account)
    expect(table).to_contain_text(usage.number_text)
    expect(table).to_contain_text(sb.number_text)
    shot(op, "03-owner-invoices")

    op.click(f"text={usage.number_text}")
    expect(op.locator("#lines")).to_contain_text("platform fee per kWh")
    expect(op.locator("#lines")).to_contain_text("Plus")
    shot(op, "04-usage-invoice")

    op.goto(f"{server.http_url}/invoices/")
    op.click(f"text={sb.number_text}")
    expect(op.locator("h1")).to_contain_text("Self-billing")
    lines = op.locator("#lines tbody tr")
    expect(lines).to_have_count(2)
    sessions_on_page = set(op.locator("#lines tbody tr td:nth-child(3)").all_inner_texts())
    assert sessions_on_page == {str(roaming.pk), str(visitor.pk)}
    page_total = op.locator("#invoice-total").inner_text()
    assert page_total == f"{roaming.subtotal + visitor.subtotal} EUR"
    shot(op, "05-reimbursement-invoice")

    # The PDF opens (as the browser fetches it) and says what the page says.
    pdf = op.request.get(server.http_url + op.locator("#pdf-link").get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    assert sb.number_text in text and "Self-billing" in text and page_total in text

    # The CSV download: its totals match the page.
    with op.expect_download() as info:
        op.click("#csv-link")
    rows = list(csv.DictReader(io.StringIO(open(info.value.path(), encoding="utf-8").read())))
    line_rows = [r for r in rows if r["position"]]
    total_row = next(r for r in rows if r["kind"] == "total")
    assert {r["session"] for r in line_rows} == {str(roaming.pk), str(visitor.pk)}
    assert sum(Decimal(r["amount_excl_vat"]) for r in line_rows) == Decimal(page_total.split()[0])
    assert f"{total_row['amount_excl_vat']} EUR" == page_total
    owner.close()
