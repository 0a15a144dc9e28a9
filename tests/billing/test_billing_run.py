"""The monthly run end to end on the ledger (design note §6, B1, B2, B7-B10, B12, B13, B17) and the
billing_run command."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from billing.models import BillingItem, BillingPlanPrice, BillingRun, Invoice, Payout
from billing.services.runs import billing_run, payout_csv_rows
from tests.billing.billing_world import (
    D,
    agree,
    card_plan,
    local,
    roaming_card,
    session,
    station_plan,
    subscribe,
)

FEB_1 = datetime(2026, 2, 1, 3, 0, tzinfo=UTC)
MAR_1 = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


@pytest.fixture
def world(own_station, foreign_card, own_card, alice_account, bob_account, account_owner):
    own_station.allow_roaming = True
    own_station.save()
    plan = station_plan()
    flex = card_plan()
    subscribe(plan, station=own_station)
    subscribe(flex, card=foreign_card)
    agree(alice_account, account_owner)
    return {"plan": plan, "flex": flex, "station": own_station}


def lines_of(invoice):
    return list(invoice.lines.order_by("position").values_list("kind", "amount"))


def test_b1_one_usage_invoice_per_payer_with_plan_and_card_fees(
    world, own_station, foreign_card, bob_account
):
    session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0))
    session(own_station, foreign_card, "access_group_free", local(2026, 1, 11, 12, 0), is_free=True)
    summary = billing_run(period="2026-01", issue=True, now=FEB_1)
    usage = Invoice.objects.filter(kind="usage", status="issued")
    assert usage.count() == 2  # Alice (station plan) and Bob (his card's plan and his public session)
    alice = usage.get(account=own_station.account)
    kinds = sorted(k for k, _ in lines_of(alice))
    assert kinds == ["plan_connectors", "plan_once", "plan_period", "platform_fee"]
    assert dict(lines_of(alice))["plan_connectors"] == D("8.00")  # 2 connectors x 4.00
    bob = usage.get(account=bob_account)
    # The card fee is charged for the public session only: none for the free access-group session.
    assert sorted(k for k, _ in lines_of(bob)) == ["card_session_fee", "plan_once", "session_cost"]
    assert len(summary.issued) == 2 and summary.issued[0].startswith("INV-2026-")
    # February: the one-time fees are not charged again.
    billing_run(period="2026-02", issue=True, now=MAR_1)
    feb = Invoice.objects.get(kind="usage", account=own_station.account, period="2026-02")
    assert "plan_once" not in [k for k, _ in lines_of(feb)]


def test_b2_a_second_run_changes_nothing_and_says_so(world, own_station, foreign_card):
    session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0))
    first = billing_run(period="2026-01", issue=True, now=FEB_1)
    hashes = dict(Invoice.objects.values_list("pk", "pdf_sha256"))
    counts = (
        Invoice.objects.count(),
        BillingItem.objects.count(),
        Invoice.objects.exclude(number=None).count(),
    )
    second = billing_run(period="2026-01", issue=True, now=FEB_1)
    assert first.changed and not second.changed
    assert "nothing changed" in second.line()
    assert (
        Invoice.objects.count(),
        BillingItem.objects.count(),
        Invoice.objects.exclude(number=None).count(),
    ) == counts
    assert dict(Invoice.objects.values_list("pk", "pdf_sha256")) == hashes
    assert all(hashes.values())


def test_b7_sessions_keep_their_own_snapshotted_tariff(world, own_station, foreign_card):
    before = session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0), price_per_kwh=D("0.30"))
    own_station.price_per_kwh = D("0.50")
    own_station.save()
    after = session(own_station, foreign_card, "public", local(2026, 1, 20, 12, 0), price_per_kwh=D("0.50"))
    own_station.price_per_kwh = D("0.99")  # changed again after both: never re-read
    own_station.save()
    billing_run(period="2026-01", issue=True, now=FEB_1)
    sb = Invoice.objects.get(kind="self_billing")
    assert sorted(sb.lines.values_list("amount", flat=True)) == sorted([before.subtotal, after.subtotal])
    assert {before.subtotal, after.subtotal} == {D("3.00"), D("5.00")}


def test_b8_a_plan_price_changed_mid_month_applies_from_the_next_period(world, own_station):
    BillingPlanPrice.objects.create(
        plan=world["plan"],
        effective_from=date(2026, 1, 15),
        price_per_period=D("9"),
        price_per_connector_period=D("4"),
    )
    billing_run(period="2026-01", issue=True, now=FEB_1)
    billing_run(period="2026-02", issue=True, now=MAR_1)
    fee = {
        inv.period: inv.lines.get(kind="plan_period").amount
        for inv in Invoice.objects.filter(kind="usage", account=own_station.account)
    }
    assert fee == {"2026-01": D("5.00"), "2026-02": D("9.00")}


def test_b9_reimbursement_inclusion_matrix(world, own_station, foreign_card, own_card, account_owner):
    from stations.models import Station
    from tests.personas import make_station

    roam = roaming_card()
    disabled = make_station("ALICE-OFF", account=own_station.account, is_disabled=True)
    t = local(2026, 1, 12, 10, 0)
    included = [
        session(own_station, roam, "roaming", t),
        session(own_station, foreign_card, "public", t, connector_id=2),
        session(
            own_station, foreign_card, "access_group_reduced", t, price_per_kwh=D("0.20"), connector_id=3
        ),
    ]
    session(own_station, foreign_card, "access_group_free", t, is_free=True, connector_id=4)
    session(own_station, foreign_card, "free_charging", t, is_free=True, connector_id=5)
    session(own_station, own_card, "own_account", t, is_free=True, connector_id=6)
    session(disabled, foreign_card, "station_disabled", t, accepted=False)
    held = session(own_station, foreign_card, "public", t, needs_review=True, connector_id=7)
    billing_run(period="2026-01", issue=True, now=FEB_1)
    sb = Invoice.objects.get(kind="self_billing")
    assert sorted(sb.lines.values_list("session_ref", flat=True)) == sorted(s.pk for s in included)
    assert sorted(sb.lines.values_list("amount", flat=True)) == sorted(s.subtotal for s in included)
    assert Station.objects.get(pk=disabled.pk).is_disabled
    # Reviewed, the held session is on the next reimbursement invoice.
    from billing.services.ledger import session_review_done

    session_review_done(session=held, acting_user=account_owner)
    billing_run(period="2026-02", issue=True, now=MAR_1)
    feb = Invoice.objects.get(kind="self_billing", period="2026-02")
    assert list(feb.lines.values_list("session_ref", flat=True)) == [held.pk]


def test_b10_a_late_session_goes_on_the_next_invoice_and_a_very_late_one_is_flagged(
    world, own_station, foreign_card
):
    billing_run(period="2026-01", issue=True, now=FEB_1)
    late = session(own_station, foreign_card, "public", local(2026, 1, 31, 23, 50))  # arrived 2 Feb
    billing_run(period="2026-02", issue=True, now=MAR_1)
    feb = Invoice.objects.get(kind="self_billing", period="2026-02")
    assert list(feb.lines.values_list("session_ref", flat=True)) == [late.pk]
    assert "May include transactions from previous months." in feb.mentions
    ancient = session(own_station, foreign_card, "public", local(2025, 10, 15, 12, 0))
    billing_run(period="2026-03", issue=True, now=datetime(2026, 4, 1, 3, tzinfo=UTC))
    statuses = set(BillingItem.objects.filter(session=ancient).values_list("status", flat=True))
    assert statuses == {BillingItem.Status.TOO_LATE}
    assert not Invoice.objects.filter(lines__session_ref=ancient.pk).exists()


def test_b12_vat_private_and_business_self_billing(
    world, own_station, foreign_card, alice_account, account_owner
):
    session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0), vat_rate=D("9"))
    billing_run(period="2026-01", issue=True, now=FEB_1)
    sb = Invoice.objects.get(kind="self_billing")
    assert sb.vat_total == 0 and "Self-billing" in sb.mentions
    assert sb.total == sb.subtotal == sum(sb.lines.values_list("amount", flat=True))
    bob = Invoice.objects.get(kind="usage", account=foreign_card.account)
    # Each rate separately: the session at the charging country's 9 %, the platform's plan fees at 21 %.
    assert [g["rate"] for g in bob.vat_breakdown] == ["9.00", "21.00"]
    assert bob.vat_total == sum(D(g["vat"]) for g in bob.vat_breakdown)
    assert bob.total == bob.subtotal + bob.vat_total
    # A VAT-registered owner: the self-billing invoice carries VAT and both VAT ids.
    alice_account.self_billing.update(revoked_at=datetime(2026, 2, 1, tzinfo=UTC))
    agree(alice_account, account_owner, kind="business", vat_number="NL004495445B01")
    session(own_station, foreign_card, "public", local(2026, 2, 10, 12, 0))
    billing_run(period="2026-02", issue=True, now=MAR_1)
    sb2 = Invoice.objects.get(kind="self_billing", period="2026-02")
    assert sb2.vat_total == D("0.74")  # 21 % of 3.50
    assert sb2.seller["vat_number"] == "NL004495445B01" and sb2.buyer["vat_number"]


def test_b13_no_agreement_no_self_billing_until_accepted(
    world, own_station, foreign_card, alice_account, account_owner
):
    alice_account.self_billing.all().delete()
    s = session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0))
    summary = billing_run(period="2026-01", issue=True, now=FEB_1)
    assert not Invoice.objects.filter(kind="self_billing").exists()
    assert BillingItem.objects.get(key=f"session:{s.pk}:revenue").status == "open"
    assert summary.left_open >= 1
    agree(alice_account, account_owner)
    billing_run(period="2026-02", issue=True, now=MAR_1)
    assert Invoice.objects.get(kind="self_billing").lines.get().session_ref == s.pk


def test_b17_settlement_and_payout_csv(world, own_station, foreign_card, alice_account):
    roam = roaming_card()
    session(own_station, roam, "roaming", local(2026, 1, 10, 12, 0), energy_wh=20_000)  # 7.00, fee 0.40
    billing_run(period="2026-01", issue=True, now=FEB_1)
    payout = Payout.objects.get(account=alice_account)
    sb = Invoice.objects.get(kind="self_billing")
    assert payout.self_billing_total == sb.total == D("7.00")
    assert payout.platform_fees == D("0.48")  # 0.40 + 21 % VAT
    assert payout.amount == D("6.52")
    rows = list(payout_csv_rows(BillingRun.objects.get(period="2026-01")))
    assert [r[2] for r in rows[1:]] == ["NL91ABNA0417164300"]


def test_the_command_prints_one_line_and_a_second_run_changes_nothing(
    world, own_station, foreign_card, capsys
):
    session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0))
    call_command("billing_run", "--period", "2026-01", "--issue")
    first = capsys.readouterr().out.strip().splitlines()
    call_command("billing_run", "--period", "2026-01", "--issue")
    second = capsys.readouterr().out.strip().splitlines()
    assert len(first) == len(second) == 1
    assert first[0].startswith(
        "period 2026-01: 2 invoices issued (INV-2026-000001..000002), 1 self-billing (SB-2026-000001)"
    )
    assert second[0].startswith("period 2026-01: 0 invoices issued, 0 self-billing")
    assert "nothing changed" in second[0]


def test_dry_run_saves_nothing(world, own_station, foreign_card, capsys):
    session(own_station, foreign_card, "public", local(2025, 11, 10, 12, 0))
    call_command("billing_run", "--period", "2025-11", "--issue", "--dry-run")
    assert "dry run" in capsys.readouterr().out
    assert (
        not Invoice.objects.exists() and not BillingItem.objects.exists() and not BillingRun.objects.exists()
    )


@pytest.mark.parametrize("period", ["2026-13", "26-01", "november", "2099-01", ""])
def test_a_bad_period_is_a_command_line_error(db, period):
    with pytest.raises(CommandError) as exc:
        call_command("billing_run", "--period", period)
    assert "period" in str(exc.value).lower()
    assert not BillingRun.objects.exists()


def test_amounts_are_decimal_and_rounded_once(world, own_station, foreign_card):
    session(own_station, foreign_card, "public", local(2026, 1, 10, 12, 0), energy_wh=12_345)
    billing_run(period="2026-01", issue=True, now=FEB_1)
    fee = Invoice.objects.get(kind="usage", account=own_station.account).lines.get(kind="platform_fee")
    assert (fee.quantity, fee.amount) == (Decimal("12.3450"), Decimal("0.25"))
