"""Issued documents: gap-free numbering under failure (B4), immutability and credit notes (B5), snapshots
(B6), the PDF's content (B15) and the lines CSV whose totals equal the invoice (B14, first half)."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from pypdf import PdfReader

from billing import numbering
from billing.models import BillingItem, Invoice, NumberSeries
from billing.services import invoices as invoice_services
from billing.services.invoices import invoice_credit, invoice_lines_csv, invoice_render_pdf
from billing.services.runs import billing_run
from tests.billing.billing_world import D, agree, card_plan, local, session, station_plan, subscribe

FEB_1 = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def issued(own_station, foreign_card, alice_account, account_owner):
    own_station.allow_roaming = True
    own_station.save()
    subscribe(station_plan(), station=own_station)
    subscribe(card_plan(), card=foreign_card)
    agree(alice_account, account_owner, kind="business", vat_number="NL004495445B01")
    session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0), vat_rate=D("9"))
    session(own_station, foreign_card, "public", local(2026, 1, 20, 12, 0), energy_wh=7_777)
    billing_run(period="2026-01", issue=True, now=FEB_1)
    return Invoice.objects.issued()


def pdf_text(invoice) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(invoice.pdf))).pages)


def test_b4_a_failure_after_the_number_rolls_it_back_and_the_next_issue_gets_it(
    issued, monkeypatch, own_station, foreign_card
):
    session(own_station, foreign_card, "public", local(2026, 2, 10, 12, 0))
    real_issue = invoice_services._issue

    def fail_after_number(invoice, **kwargs):
        real_issue(invoice, **kwargs)
        assert invoice.number is not None
        raise RuntimeError("disk full")

    monkeypatch.setattr(invoice_services, "_issue", fail_after_number)
    with pytest.raises(RuntimeError):
        billing_run(period="2026-02", issue=True, now=datetime(2026, 3, 1, 3, tzinfo=UTC))
    assert not Invoice.objects.filter(period="2026-02", status="issued").exists()
    last = NumberSeries.objects.get(key="INV-2026").last_value
    monkeypatch.setattr(invoice_services, "_issue", real_issue)
    billing_run(period="2026-02", issue=True, now=datetime(2026, 3, 1, 4, tzinfo=UTC))
    numbers = sorted(Invoice.objects.filter(series="INV-2026").values_list("number", flat=True))
    assert numbers == list(range(1, len(numbers) + 1))
    assert (
        min(Invoice.objects.filter(period="2026-02", series="INV-2026").values_list("number", flat=True))
        == last + 1
    )


def test_b4_each_series_starts_at_one_each_year(db):
    from django.db import transaction

    with transaction.atomic():
        assert [numbering.number_take("INV-2026") for _ in range(3)] == [1, 2, 3]
        assert numbering.number_take("INV-2027") == 1
        assert numbering.number_take("SB-2026") == 1


def test_a_number_is_only_taken_inside_the_issuing_transaction(transactional_db):
    with pytest.raises(RuntimeError):
        numbering.number_take("INV-2026")  # in autocommit the number would be committed on its own
    assert not NumberSeries.objects.exists()


def test_b5_an_issued_invoice_cannot_change_or_be_deleted(issued, client_for, operator):
    invoice = issued.get(kind="usage", account__name="Alice Charging BV")
    for field, value in [("total", Decimal("1")), ("buyer", {"name": "x"}), ("number", 99)]:
        fresh = Invoice.objects.get(pk=invoice.pk)
        setattr(fresh, field, value)
        with pytest.raises(ValueError):
            fresh.save()
    with pytest.raises(ValueError):
        invoice.delete()
    line = invoice.lines.first()
    line.amount = Decimal("0.01")
    with pytest.raises(ValueError):
        line.save()
    with pytest.raises(ValueError):
        line.delete()
    page = client_for(operator).get(reverse("admin:billing_invoice_change", args=[invoice.pk]))
    assert page.status_code == 200 and b'name="_save"' not in page.content


def test_b5_a_credit_note_cites_the_original_and_negates_its_lines(issued, operator):
    original = issued.get(kind="usage", account__name="Bob Parking Ltd")
    note = invoice_credit(invoice=original, acting_user=operator, reason="wrong card", rebill=True)
    assert note.kind == "credit_note" and note.number_text.startswith("CRN-")
    assert f"Credit note for {original.number_text} of {original.issue_date:%Y-%m-%d}." in note.mentions
    assert note.credits == original and note.total == -original.total
    assert sorted(note.lines.values_list("amount", "vat_rate")) == sorted(
        (-a, r) for a, r in original.lines.values_list("amount", "vat_rate")
    )
    assert set(BillingItem.objects.filter(lines__invoice=original).values_list("status", flat=True)) == {
        "open"
    }
    with pytest.raises(ValidationError):
        invoice_credit(invoice=original, acting_user=operator, reason="again")
    with pytest.raises(ValidationError):
        invoice_credit(invoice=note, acting_user=operator, reason="a credit of a credit")
    # Re-billed by the next run, corrected.
    billing_run(period="2026-02", issue=True, now=datetime(2026, 3, 1, 3, tzinfo=UTC))
    rebilled = Invoice.objects.get(kind="usage", account=original.account, period="2026-02")
    assert rebilled.lines.filter(kind="session_cost").count() == 2


def test_b6_later_edits_do_not_reach_an_issued_invoice(issued, alice_account, settings):
    invoice = issued.get(kind="usage", account=alice_account)
    invoice = invoice_render_pdf(invoice=invoice)
    before_pdf, before_buyer = bytes(invoice.pdf), dict(invoice.buyer)
    alice_account.name, alice_account.address, alice_account.vat_number = (
        "Renamed",
        "Elsewhere 9",
        "DE136695976",
    )
    alice_account.save()
    settings.BILLING_ISSUER = {**settings.BILLING_ISSUER, "name": "Other Platform"}
    invoice.refresh_from_db()
    assert invoice.buyer == before_buyer and invoice.buyer["name"] == "Alice Charging BV"
    assert bytes(invoice_render_pdf(invoice=invoice).pdf) == before_pdf
    assert "Renamed" not in pdf_text(invoice) and "Other Platform" not in pdf_text(invoice)


def test_b15_the_pdf_holds_number_date_parties_lines_and_vat(issued, alice_account):
    sb = invoice_render_pdf(invoice=issued.get(kind="self_billing"))
    assert len(sb.pdf_sha256) == 64
    text = pdf_text(sb)
    for expected in [
        sb.number_text,
        f"{sb.issue_date:%Y-%m-%d}",
        "Self-billing",
        "Alice Charging BV (legal)",
        "NL004495445B01",  # supplier VAT id
        "KvK: 87654321",
        "eflux B.V.",
        "KvK: 12345678",
        f"{sb.total} EUR",
    ]:
        assert expected in text, expected
    for line in sb.lines.all():
        assert str(line.amount) in text
    for g in sb.vat_breakdown:
        assert f"VAT {g['rate']}% on {g['base']}" in text


def test_b14_the_csv_totals_equal_the_invoice_and_the_pdf(issued):
    invoice = invoice_render_pdf(invoice=issued.get(kind="usage", account__name="Bob Parking Ltd"))
    rows = list(csv.DictReader(io.StringIO(invoice_lines_csv(invoice=invoice).text)))
    lines = [r for r in rows if r["position"]]
    by_kind = {r["kind"]: r for r in rows if not r["position"]}
    assert (
        sum(Decimal(r["amount_excl_vat"]) for r in lines)
        == invoice.subtotal
        == Decimal(by_kind["subtotal"]["amount_excl_vat"])
    )
    assert Decimal(by_kind["vat_total"]["amount_excl_vat"]) == invoice.vat_total
    assert Decimal(by_kind["total"]["amount_excl_vat"]) == invoice.total
    assert f"{invoice.total} EUR" in pdf_text(invoice)
    session_rows = [r for r in lines if r["kind"] == "session_cost"]
    assert {r["station"] for r in session_rows} == {"ALICE-001"} and session_rows[0]["energy_kwh"]


def test_a_zero_total_is_not_invoiced(own_station, foreign_card, alice_account, account_owner):
    subscribe(
        station_plan(
            price_per_period=D("0"),
            price_per_connector_period=D("0"),
            price_once=D("0"),
            platform_fee_per_kwh=D("0"),
        ),
        station=own_station,
    )
    summary = billing_run(period="2026-01", issue=True, now=FEB_1)
    assert not Invoice.objects.exists() and not summary.issued
