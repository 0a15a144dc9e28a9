"""Invoices in the portal: who sees them (B16), the sessions list's invoice number column and billed filter
(B14), crediting from the portal and the run page."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from billing.models import BillingRun, Invoice
from billing.services.runs import billing_run
from tests.billing.billing_world import agree, card_plan, local, session, station_plan, subscribe

FEB_1 = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def billed(own_station, foreign_card, alice_account, account_owner):
    own_station.allow_roaming = True
    own_station.save()
    subscribe(station_plan(), station=own_station)
    subscribe(card_plan(), card=foreign_card)
    agree(alice_account, account_owner)
    on_invoice = session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0))
    billing_run(period="2026-01", issue=True, now=FEB_1)
    later = session(own_station, foreign_card, "public", local(2026, 2, 10, 12, 0))
    return {"on_invoice": on_invoice, "later": later}


def test_b16_who_opens_an_invoice_its_pdf_and_csv(billed, client_for, personas, alice_account):
    sb = Invoice.objects.get(kind="self_billing", account=alice_account)
    urls = [
        reverse(f"billing:{name}", args=[sb.pk]) for name in ("invoice_detail", "invoice_pdf", "invoice_csv")
    ]
    expected = {"operator": 200, "account_owner": 200, "billing_admin": 200, "fst": 404, "driver": 404}
    expected["foreign_user"] = 404
    for persona, status in expected.items():
        client = client_for(personas[persona])
        for url in urls:
            assert client.get(url).status_code == status, (persona, url)
    pdf = client_for(personas["billing_admin"]).get(urls[1])
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf["X-Content-SHA256"] == Invoice.objects.get(pk=sb.pk).pdf_sha256


def test_the_list_shows_only_own_documents(billed, client_for, account_owner, foreign_user, fst):
    own = client_for(account_owner).get(reverse("billing:invoice_list")).content.decode()
    alice_docs = Invoice.objects.filter(account__name="Alice Charging BV")
    bob_docs = Invoice.objects.filter(account__name="Bob Parking Ltd")
    assert all(i.number_text in own for i in alice_docs) and not any(i.number_text in own for i in bob_docs)
    assert client_for(fst).get(reverse("billing:invoice_list")).status_code == 403
    partial = client_for(foreign_user).get(reverse("billing:invoice_list"), HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content[:200] and bob_docs.first().number_text in partial.content.decode()


def test_b14_sessions_list_shows_the_invoice_number_and_filters_billed(billed, client_for, account_owner):
    sb = Invoice.objects.get(kind="self_billing")
    client = client_for(account_owner)
    page = client.get(reverse("billing:session_list"), {"billed": "billed"})
    assert [s.pk for s in page.context["page"]] == [billed["on_invoice"].pk]
    assert sb.number_text in page.content.decode()
    unbilled = client.get(reverse("billing:session_list"), {"billed": "unbilled"})
    assert [s.pk for s in unbilled.context["page"]] == [billed["later"].pk]
    rows = list(
        csv.DictReader(
            io.StringIO(b"".join(client.get(reverse("billing:session_export")).streaming_content).decode())
        )
    )
    by_tx = {r["Transaction ID"]: r["Invoice number"] for r in rows}
    assert by_tx == {
        str(billed["on_invoice"].transaction_id): sb.number_text,
        str(billed["later"].transaction_id): "",
    }


def test_the_driver_sees_no_invoice_number(billed, client_for, driver, foreign_user):
    page = client_for(foreign_user).get(reverse("billing:session_list"))
    bob_invoice = Invoice.objects.get(kind="usage", account__name="Bob Parking Ltd")
    # Bob (the card's account) sees his usage invoice's number, not Alice's self-billing number.
    assert bob_invoice.number_text in page.content.decode()
    assert Invoice.objects.get(kind="self_billing").number_text not in page.content.decode()


def test_operator_credits_a_document_from_the_portal(billed, client_for, operator, account_owner):
    invoice = Invoice.objects.get(kind="usage", account__name="Bob Parking Ltd")
    assert (
        client_for(account_owner)
        .post(reverse("billing:invoice_credit", args=[invoice.pk]), {"reason": "x"})
        .status_code
        == 404
    )
    response = client_for(operator).post(
        reverse("billing:invoice_credit", args=[invoice.pk]), {"reason": "wrong tariff", "rebill": "on"}
    )
    note = Invoice.objects.get(kind="credit_note")
    assert response.status_code == 302 and response["Location"] == reverse(
        "billing:invoice_detail", args=[note.pk]
    )
    assert note.credits == invoice and note.total == -invoice.total


def test_operator_sees_run_status_and_a_bad_period_next_to_the_field(billed, client_for, operator):
    client = client_for(operator)
    page = client.get(reverse("billing:run_list")).content.decode()
    assert "2026-01" in page and "Issued" in page
    response = client.post(reverse("billing:run_list"), {"period": "2026-13", "issue": "on"})
    assert response.status_code == 200 and "period" in response.context["form"].errors
    run = BillingRun.objects.get(period="2026-01")
    payout = client.get(reverse("billing:run_payout_csv", args=[run.pk])).content.decode()
    assert "NL91ABNA0417164300" in payout


def test_operator_marks_a_flagged_session_reviewed_and_the_next_run_bills_it(
    own_station, foreign_card, client_for, operator, account_owner, alice_account
):
    own_station.allow_roaming = True
    own_station.save()
    agree(alice_account, account_owner)
    held = session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0), needs_review=True)
    billing_run(period="2026-01", issue=True, now=FEB_1)
    assert not Invoice.objects.filter(kind="self_billing").exists()
    url = reverse("billing:session_reviewed", args=[held.pk])
    assert client_for(account_owner).post(url).status_code == 403
    page = client_for(operator).get(reverse("billing:session_detail", args=[held.pk]))
    assert b"review-done" in page.content
    assert client_for(operator).post(url).status_code == 302
    billing_run(period="2026-02", issue=True, now=datetime(2026, 3, 1, 3, tzinfo=UTC))
    assert Invoice.objects.get(kind="self_billing").lines.get().session_ref == held.pk
