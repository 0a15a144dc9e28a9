"""The billing ledger: one BillingItem per thing owed or earned, each under a unique key, so a re-run (or two
runs at once) adds nothing and a session that arrives late is simply found by the next run.

Keys: session:{id}:revenue (station owner earns), session:{id}:charge (card's account pays),
session:{id}:cardfee (card plan per-session fee), session:{id}:platformfee (station plan fee per kWh),
station:{id}:{YYYY-MM}:period / :connectors, card:{id}:{YYYY-MM}:period, station:{id}:once, card:{id}:once.

Which sessions earn the station owner revenue (the reimbursement invoice, docs/billing.md):
roaming, public, access_group_reduced: yes, at the snapshotted tariff. access_group_free, free_charging,
own_account, station_disabled, anything not accepted: no. needs_review: held until reviewed."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef

from accounts.audit import audit_record
from billing import periods
from billing.models import BillingItem, ChargingSession, Subscription
from billing.money import line_amount
from billing.pricing import round_money

REVENUE_REASONS = frozenset({"roaming", "public", "access_group_reduced"})
# The card's account pays these at the station tariff; roaming sessions are the roaming partner's to pay
# (settled through the partner, not on an eflux usage invoice).
CHARGED_TO_CARD_REASONS = frozenset({"public", "access_group_reduced"})
# "If you add this card to an access group to charge for free, you do not pay a starting fee."
NO_CARD_FEE_REASONS = frozenset({"access_group_free"})
KWH = Decimal(1000)


@dataclass
class CollectResult:
    created: int = 0
    too_late: int = 0
    keys: list[str] = field(default_factory=list)


def _mask(id_tag: str) -> str:
    return ("•" * max(0, len(id_tag) - 4) + id_tag[-4:]) if id_tag else ""


def session_label(session: ChargingSession, tz: str) -> str:
    when = periods.local_date(session.stopped_at, tz).isoformat() if session.stopped_at else "?"
    kwh = (Decimal(session.energy_wh) / KWH).quantize(Decimal("0.001"))
    return f"Session {when} {session.station.ocpp_id}/{session.connector_id or '-'} {_mask(session.id_tag)}, {kwh} kWh"


def _subscription_on(day: date, **device) -> Subscription | None:
    return (
        Subscription.objects.filter(**device, starts_on__lte=day)
        .exclude(ends_on__lt=day)
        .select_related("plan", "account")
        .order_by("starts_on", "id")
        .first()
    )


class _Terms:
    """Subscription and price lookups of one collect pass, cached per device and day (a month's sessions of
    one station share a handful of them)."""

    def __init__(self):
        self._cache: dict = {}

    def on(self, day: date, **device):
        key = (day, tuple(sorted((k, getattr(v, "pk", v)) for k, v in device.items())))
        if key not in self._cache:
            sub = _subscription_on(day, **device)
            self._cache[key] = (sub, sub.plan.price_on(day) if sub else None)
        return self._cache[key]


def session_items(session: ChargingSession, *, tz: str, terms: _Terms | None = None) -> list[BillingItem]:
    """The items one completed session gives rise to (unsaved)."""
    terms = terms or _Terms()
    base = dict(
        session=session, service_date=session.stopped_at, period=periods.period_of(session.stopped_at, tz)
    )
    label = session_label(session, tz)
    day = periods.local_date(session.stopped_at, tz)
    reason, accepted = session.auth_reason, session.auth_status == ChargingSession.AuthStatus.ACCEPTED
    items = []
    earns = accepted and reason in REVENUE_REASONS and not session.is_free and session.subtotal > 0
    if earns and session.account_id:
        items.append(
            BillingItem(
                key=f"session:{session.pk}:revenue",
                account_id=session.account_id,
                direction=BillingItem.Direction.REVENUE,
                kind=BillingItem.Kind.SESSION_REVENUE,
                description=label,
                unit="session",
                unit_price=session.subtotal,
                amount=session.subtotal,
                currency=session.currency,
                **base,
            )
        )
    card = session.card
    if earns and reason in CHARGED_TO_CARD_REASONS and card is not None and card.account_id:
        items.append(
            BillingItem(
                key=f"session:{session.pk}:charge",
                account_id=card.account_id,
                direction=BillingItem.Direction.CHARGE,
                kind=BillingItem.Kind.SESSION_COST,
                description=label,
                unit="session",
                unit_price=session.subtotal,
                amount=session.subtotal,
                currency=session.currency,
                # The VAT of the country of charging, snapshotted at the session.
                vat_rate=session.vat_rate,
                **base,
            )
        )
    if accepted and card is not None and reason not in NO_CARD_FEE_REASONS:
        sub, price = terms.on(day, card=card)
        if price is not None and price.price_per_session > 0:
            items.append(
                BillingItem(
                    key=f"session:{session.pk}:cardfee",
                    account_id=sub.account_id,
                    subscription=sub,
                    direction=BillingItem.Direction.CHARGE,
                    kind=BillingItem.Kind.CARD_SESSION_FEE,
                    description=f"{sub.plan}: fee per session ({label})",
                    unit="session",
                    unit_price=price.price_per_session,
                    amount=round_money(price.price_per_session),
                    currency=sub.plan.currency,
                    **base,
                )
            )
    if earns and session.energy_wh > 0:
        sub, price = terms.on(day, station_id=session.station_id)
        if price is not None and price.platform_fee_per_kwh > 0:
            kwh = Decimal(session.energy_wh) / KWH
            items.append(
                BillingItem(
                    key=f"session:{session.pk}:platformfee",
                    account_id=sub.account_id,
                    subscription=sub,
                    direction=BillingItem.Direction.CHARGE,
                    kind=BillingItem.Kind.PLATFORM_FEE,
                    description=f"{sub.plan}: platform fee per kWh ({label})",
                    quantity=kwh,
                    unit="kWh",
                    unit_price=price.platform_fee_per_kwh,
                    amount=line_amount(kwh, price.platform_fee_per_kwh),
                    currency=sub.plan.currency,
                    **base,
                )
            )
    return items


def subscription_items(*, year: int, month: int, tz: str) -> list[BillingItem]:
    """Plan fees of the period. A device pays one period fee per month: the subscription active on the first
    day of the month, else the first one that started in it (no proration, docs/billing.md). The price is the
    version in force on the first day of the period (or on the day the subscription started, if later)."""
    first, end = periods.month_dates(year, month)
    start_utc, _ = periods.month_bounds(year, month, tz)
    name = periods.period_name(year, month)
    chosen: dict[str, Subscription] = {}
    subs = (
        Subscription.objects.active_in(first, end)
        .select_related("plan", "station", "card")
        .order_by("starts_on", "id")
    )
    for sub in subs:
        chosen.setdefault(sub.device_key, sub)
    items = []
    for device, sub in chosen.items():
        price = sub.plan.price_on(max(first, sub.starts_on))
        if price is None:
            continue
        what = sub.station.ocpp_id if sub.station_id else f"card {_mask(sub.card.id_tag)}"
        common = dict(
            account_id=sub.account_id,
            subscription=sub,
            direction=BillingItem.Direction.CHARGE,
            currency=sub.plan.currency,
            service_date=start_utc,
            period=name,
        )
        if price.price_per_period > 0:
            items.append(
                BillingItem(
                    key=f"{device}:{name}:period",
                    kind=BillingItem.Kind.PLAN_PERIOD,
                    description=f"{sub.plan}: {name}, {what}",
                    unit="month",
                    unit_price=price.price_per_period,
                    amount=round_money(price.price_per_period),
                    **common,
                )
            )
        if sub.station_id and price.price_per_connector_period > 0:
            count = sub.station.connectors.filter(connector_id__gte=1).count()
            if count:
                items.append(
                    BillingItem(
                        key=f"{device}:{name}:connectors",
                        kind=BillingItem.Kind.PLAN_CONNECTORS,
                        description=f"{sub.plan}: {name}, {what}, {count} connector(s)",
                        quantity=Decimal(count),
                        unit="connector",
                        unit_price=price.price_per_connector_period,
                        amount=line_amount(Decimal(count), price.price_per_connector_period),
                        **common,
                    )
                )
        if price.price_once > 0:
            items.append(
                BillingItem(
                    key=f"{device}:once",
                    kind=BillingItem.Kind.PLAN_ONCE,
                    description=f"{sub.plan}: one-time fee, {what}",
                    unit="pc",
                    unit_price=price.price_once,
                    amount=round_money(price.price_once),
                    **common,
                )
            )
    return items


def _insert(items: list[BillingItem]) -> list[str]:
    """Inserts the items whose key is new; returns the keys actually inserted. ignore_conflicts makes a
    concurrent run's insert of the same key a no-op instead of an error."""
    if not items:
        return []
    keys = [i.key for i in items]
    existing = set(BillingItem.objects.filter(key__in=keys).values_list("key", flat=True))
    fresh = [i for i in items if i.key not in existing]
    BillingItem.objects.bulk_create(fresh, ignore_conflicts=True)
    return [i.key for i in fresh]


def ledger_collect(*, period: str, now: datetime | None = None) -> CollectResult:
    """Everything billable up to the end of `period`: subscription fees of the period, and every completed,
    reviewed session that ended before the period's end and has no items yet. A session that ended more
    than BILLING_LATE_MONTHS before the period started gets its items as too_late (flagged, never billed)."""
    tz = settings.BILLING_TIMEZONE
    year, month = periods.parse_period(period)
    start, end = periods.month_bounds(year, month, tz)
    limit, _ = periods.month_bounds(*periods.add_months(year, month, -settings.BILLING_LATE_MONTHS), tz)
    result = CollectResult()
    with transaction.atomic():
        result.keys += _insert(subscription_items(year=year, month=month, tz=tz))
    sessions = (
        ChargingSession.objects.filter(
            status=ChargingSession.Status.COMPLETED, stopped_at__lt=end, needs_review=False
        )
        .exclude(Exists(BillingItem.objects.filter(session=OuterRef("pk"))))
        .select_related("station", "card")
        .order_by("stopped_at", "id")
    )
    terms, batch = _Terms(), []
    for session in sessions.iterator(chunk_size=500):
        items = session_items(session, tz=tz, terms=terms)
        if session.stopped_at < limit:
            for item in items:
                item.status = BillingItem.Status.TOO_LATE
            result.too_late += len(items)
        batch += items
        if len(batch) >= 500:
            with transaction.atomic():
                result.keys += _insert(batch)
            batch = []
    with transaction.atomic():
        result.keys += _insert(batch)
    result.created = len(result.keys)
    return result


@transaction.atomic
def session_review_done(*, session: ChargingSession, acting_user) -> ChargingSession:
    """An operator looked at a flagged session: it becomes billable and the next run collects it."""
    session = ChargingSession.objects.select_for_update().get(pk=session.pk)
    flags = list(session.review_flags)
    session.needs_review = False
    session.save(update_fields=["needs_review", "updated_at"])
    audit_record(
        actor=acting_user,
        action="billing.session_reviewed",
        obj=session,
        station=session.station,
        account=session.account,
        changes={"needs_review": [True, False], "review_flags": [flags, flags]},
    )
    return session
