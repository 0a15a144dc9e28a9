"""The one authorization decision: may this idTag charge at this station, and on which terms.
Used by Authorize, StartTransaction (OCPP 1.6 §4.8: the CSMS MUST re-verify, the station may have
authorized from a stale cache) and the portal's remote start. Reads only; callers store the outcome.

Order of the rules (first match wins):
1. station disabled                          -> Invalid  (station_disabled)
2. card known and blocked                    -> Blocked  (card_blocked)
3. card known and expired (status or date)   -> Expired  (card_expired)
4. station "any card charges for free"       -> Accepted, free (free_charging), unknown cards included:
                                                the operator's setting says *any* card
5. card unknown                              -> Invalid  (unknown_card)
6. card in an access group linked here       -> Accepted on the group's terms (access_group_free /
                                                access_group_reduced); free beats reduced, then lowest
                                                price per kWh, then oldest group
7. card of the station's own account         -> Accepted, free (own_account): the manual's tariff is
                                                "charged when other charge cards want to charge here"
8. roaming card, station allows roaming      -> Accepted at the station tariff (roaming)
9. own-network card of another account, station allows roaming (a public station)
                                             -> Accepted at the station tariff (public)
10. anything else                            -> Invalid  (not_allowed_here)
Blocked/expired come before free charging: a card the platform blocked (lost, stolen) stays blocked.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from accounts.models import AccessGroup, ChargeCard
from billing.pricing import Tariff
from eflux import bulk
from eflux.lib.id_tags import normalize_id_tag

ACCEPTED, BLOCKED, EXPIRED, INVALID = "Accepted", "Blocked", "Expired", "Invalid"


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str
    id_tag: str
    card: ChargeCard | None = None
    access_group: AccessGroup | None = None
    tariff: Tariff | None = None
    is_free: bool = False
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == ACCEPTED


def station_tariff(station) -> Tariff:
    return Tariff(
        price_per_kwh=station.price_per_kwh,
        price_per_session=station.price_per_session,
        price_per_hour=station.price_per_hour,
        currency=station.currency or "EUR",
    )


def group_tariff(group, station) -> Tariff:
    # Reduced terms replace the station tariff as a whole: an empty component is free, not "inherit".
    return Tariff(
        price_per_kwh=group.price_per_kwh,
        price_per_session=group.price_per_session,
        price_per_hour=group.price_per_hour,
        currency=group.currency or station.currency or "EUR",
    )


def parent_id_tag_for(card) -> str | None:
    # OCPP 1.6 §3.10: cards sharing a ParentId may stop each other's transactions. One account = one
    # group (a family or company sharing cars), so the account makes the parent. Max 20 characters.
    if card is None or not card.account_id:
        return None
    return f"ACCOUNT-{card.account_id}"[:20]


def _best_group(card, station):
    # Members are cards, or users whose cards count too (the card's holder).
    member = Q(cards=card) | Q(users=card.holder_id) if card.holder_id else Q(cards=card)
    groups = AccessGroup.objects.filter(stations=station).filter(member).distinct()
    best = None
    for g in groups:
        key = (
            0 if g.terms == AccessGroup.Terms.FREE else 1,
            g.price_per_kwh if g.price_per_kwh is not None else Decimal(0),
            g.pk,
        )
        if best is None or key < best[0]:
            best = (key, g)
    return best[1] if best else None


def authorize(*, station, id_tag: str, now: datetime | None = None) -> Decision:
    now = now or timezone.now()
    # Lenient: an idTag no card can have (too long, odd characters) is still decided (unknown_card), since
    # a transaction message carrying it must be stored (§4.8, §4.10).
    tag = normalize_id_tag(id_tag, strict=False)
    # One plain statement (eflux/bulk.py): this runs on every Authorize, StartTransaction and StopTransaction,
    # and building the ORM query cost more CPU than PostgreSQL took to answer it. id_tag is unique.
    found = bulk.instances_select(ChargeCard, "id_tag = %s", [tag])
    card = found[0] if found else None
    common: dict[str, Any] = dict(id_tag=tag, card=card)

    if station.is_disabled:
        return Decision(INVALID, "station_disabled", **common)
    if card is not None:
        if card.status == ChargeCard.Status.BLOCKED:
            return Decision(BLOCKED, "card_blocked", **common)
        if card.is_expired_at(now):
            return Decision(EXPIRED, "card_expired", expiry_date=card.expires_at, **common)
    accepted: dict[str, Any] = dict(
        expiry_date=card.expires_at if card else None,
        parent_id_tag=parent_id_tag_for(card),
        **common,
    )
    if station.free_charging:
        return Decision(ACCEPTED, "free_charging", tariff=station_tariff(station), is_free=True, **accepted)
    if card is None:
        return Decision(INVALID, "unknown_card", **common)

    group = _best_group(card, station)
    if group is not None:
        if group.terms == AccessGroup.Terms.FREE:
            return Decision(
                ACCEPTED,
                "access_group_free",
                access_group=group,
                tariff=station_tariff(station),
                is_free=True,
                **accepted,
            )
        return Decision(
            ACCEPTED,
            "access_group_reduced",
            access_group=group,
            tariff=group_tariff(group, station),
            **accepted,
        )
    if station.account_id and card.account_id == station.account_id:
        return Decision(ACCEPTED, "own_account", tariff=station_tariff(station), is_free=True, **accepted)
    if station.allow_roaming:
        reason = "roaming" if card.kind == ChargeCard.Kind.ROAMING else "public"
        return Decision(ACCEPTED, reason, tariff=station_tariff(station), **accepted)
    return Decision(INVALID, "not_allowed_here", **common)


REASON_LABELS = {
    "station_disabled": "Station is disabled",
    "card_blocked": "Card is blocked",
    "card_expired": "Card has expired",
    "free_charging": "Station lets any card charge for free",
    "unknown_card": "Unknown card",
    "access_group_free": "Access group: free charging",
    "access_group_reduced": "Access group: reduced tariff",
    "own_account": "Card of the station's own account",
    "roaming": "Roaming card, station allows roaming",
    "public": "Card of another account, public station",
    "not_allowed_here": "Card is not allowed at this station",
}
