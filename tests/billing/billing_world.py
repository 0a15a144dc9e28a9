"""A small billing world for the run tests: a station owner (Alice) with a station plan, visitors' cards with a
card plan, and completed sessions made as the OCPP path stores them (price snapshot from billing.pricing)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from accounts.models import ChargeCard
from billing import pricing
from billing.models import BillingPlan, BillingPlanPrice, ChargingSession, SelfBillingAgreement, Subscription

AMS = ZoneInfo("Europe/Amsterdam")
D = Decimal


def local(*args) -> datetime:
    return datetime(*args, tzinfo=AMS).astimezone(UTC)


def station_plan(name="Plus", *, since=date(2026, 1, 1), **prices) -> BillingPlan:
    plan = BillingPlan.objects.create(name=name, kind="station")
    defaults = dict(price_per_period=D("5"), price_per_connector_period=D("4"), price_once=D("25"))
    defaults.update(platform_fee_per_kwh=D("0.02"))
    defaults.update(prices)
    BillingPlanPrice.objects.create(plan=plan, effective_from=since, **defaults)
    return plan


def card_plan(name="Flex", *, since=date(2026, 1, 1), **prices) -> BillingPlan:
    plan = BillingPlan.objects.create(name=name, kind="card")
    BillingPlanPrice.objects.create(
        plan=plan, effective_from=since, **({"price_per_session": D("0.26"), "price_once": D("5")} | prices)
    )
    return plan


def subscribe(plan, *, station=None, card=None, since=date(2026, 1, 1)) -> Subscription:
    payer = station.account if station else card.account
    return Subscription.objects.create(plan=plan, account=payer, station=station, card=card, starts_on=since)


def agree(account, user, *, kind="private", vat_number="", iban="NL91ABNA0417164300") -> SelfBillingAgreement:
    return SelfBillingAgreement.objects.create(
        account=account,
        supplier_kind=kind,
        legal_name=f"{account.name} (legal)",
        address="Damrak 1\n1012 LG Amsterdam",
        country="NL",
        vat_number=vat_number,
        kvk_number="87654321" if kind == "business" else "",
        iban=iban,
        accepted_at=datetime(2025, 12, 1, tzinfo=UTC),
        accepted_by=user,
    )


def roaming_card(tag="ROAM0001") -> ChargeCard:
    return ChargeCard.objects.create(id_tag=tag, kind=ChargeCard.Kind.ROAMING, roaming_party="NL-GFX")


_tx = iter(range(1000, 10**6))


def session(
    station,
    card,
    reason: str,
    stopped_at: datetime,
    *,
    energy_wh=10_000,
    minutes=60,
    price_per_kwh=None,
    is_free=False,
    accepted=True,
    needs_review=False,
    vat_rate=None,
    connector_id=1,
    access_group=None,
) -> ChargingSession:
    per_kwh = station.price_per_kwh if price_per_kwh is None else price_per_kwh
    vat_rate = D("21") if vat_rate is None else vat_rate
    tariff = pricing.Tariff(price_per_kwh=None if is_free else per_kwh, currency="EUR")
    price = pricing.price_session(
        tariff=tariff, energy_wh=energy_wh, duration_seconds=minutes * 60, vat_rate=vat_rate, free=is_free
    )
    return ChargingSession.objects.create(
        station=station,
        connector_id=connector_id,
        transaction_id=next(_tx),
        status=ChargingSession.Status.COMPLETED,
        id_tag=card.id_tag if card else "UNKNOWN",
        card=card,
        access_group=access_group,
        account=station.account,
        auth_status="Accepted" if accepted else "Invalid",
        auth_reason=reason,
        meter_start=0,
        meter_stop=energy_wh,
        started_at=stopped_at - timedelta(minutes=minutes),
        stopped_at=stopped_at,
        stop_received_at=stopped_at,
        energy_wh=energy_wh,
        duration_seconds=minutes * 60,
        is_free=is_free,
        currency="EUR",
        price_per_kwh=None if is_free else per_kwh,
        vat_rate=vat_rate,
        energy_amount=price.energy_amount,
        subtotal=price.subtotal,
        vat_amount=price.vat_amount,
        total=price.total,
        needs_review=needs_review,
        review_flags=["not_accepted"] if needs_review else [],
    )
