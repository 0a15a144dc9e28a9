"""The one authorization decision (billing.authorization.authorize), rule by rule."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from billing.authorization import authorize
from stations.ocpp.v16_transactions import _id_tag_info

pytestmark = pytest.mark.django_db


@pytest.fixture
def roaming_card(db):
    from accounts.models import ChargeCard

    return ChargeCard.objects.create(id_tag="ROAM0001", kind=ChargeCard.Kind.ROAMING, roaming_party="NL-XYZ")


def test_it_refuses_every_card_at_a_disabled_station(own_station, own_card):
    own_station.is_disabled = True
    own_station.free_charging = True
    d = authorize(station=own_station, id_tag=own_card.id_tag)
    assert (d.status, d.reason) == ("Invalid", "station_disabled")


def test_free_charging_accepts_any_card_even_unknown_at_zero_cost(own_station):
    own_station.free_charging = True
    d = authorize(station=own_station, id_tag="NEVERSEEN42")
    assert (d.status, d.reason, d.is_free) == ("Accepted", "free_charging", True)
    assert d.card is None


def test_free_charging_does_not_unblock_a_blocked_card(own_station, own_card):
    own_card.status = "blocked"
    own_card.save()
    own_station.free_charging = True
    assert authorize(station=own_station, id_tag=own_card.id_tag).status == "Blocked"


def test_it_answers_blocked_for_a_blocked_card(own_station, own_card):
    own_card.status = "blocked"
    own_card.save()
    d = authorize(station=own_station, id_tag=own_card.id_tag)
    assert (d.status, d.reason) == ("Blocked", "card_blocked")
    assert _id_tag_info(d) == {"status": "Blocked"}


def test_it_answers_expired_for_an_expired_status_or_a_past_expiry_date(own_station, own_card):
    own_card.status = "expired"
    own_card.save()
    assert authorize(station=own_station, id_tag=own_card.id_tag).status == "Expired"
    own_card.status = "active"
    own_card.expires_at = timezone.now() - timedelta(days=1)
    own_card.save()
    d = authorize(station=own_station, id_tag=own_card.id_tag)
    assert d.status == "Expired"
    assert d.expiry_date == own_card.expires_at
    assert "expiry_date" in _id_tag_info(d)


def test_it_decides_a_card_expiry_at_the_given_time(own_station, own_card):
    own_card.expires_at = timezone.now() + timedelta(days=1)
    own_card.save()
    assert authorize(station=own_station, id_tag=own_card.id_tag).status == "Accepted"
    later = own_card.expires_at + timedelta(seconds=1)
    assert authorize(station=own_station, id_tag=own_card.id_tag, now=later).status == "Expired"
    assert own_card.is_expired_at(later) and not own_card.is_expired


def test_it_answers_invalid_for_an_unknown_card(own_station):
    d = authorize(station=own_station, id_tag="DEADBEEF")
    assert (d.status, d.reason) == ("Invalid", "unknown_card")
    assert _id_tag_info(d) == {"status": "Invalid"}


def test_it_accepts_the_station_accounts_own_card_free_with_parent_and_expiry(own_station, own_card):
    own_card.expires_at = timezone.now() + timedelta(days=30)
    own_card.save()
    d = authorize(station=own_station, id_tag=own_card.id_tag)
    assert (d.status, d.reason, d.is_free) == ("Accepted", "own_account", True)
    assert d.parent_id_tag == f"ACCOUNT-{own_card.account_id}"
    info = _id_tag_info(d)
    assert info["parent_id_tag"] == f"ACCOUNT-{own_card.account_id}"
    assert info["expiry_date"].endswith("Z")


def test_id_tags_are_matched_case_insensitively_without_separators(own_station, own_card):
    assert authorize(station=own_station, id_tag="alice-0001").card == own_card


def test_it_rejects_card_of_other_account_at_a_private_station(own_station, foreign_card):
    d = authorize(station=own_station, id_tag=foreign_card.id_tag)
    assert (d.status, d.reason) == ("Invalid", "not_allowed_here")


def test_other_accounts_card_pays_the_station_tariff_at_a_public_station(own_station, foreign_card):
    own_station.allow_roaming = True
    d = authorize(station=own_station, id_tag=foreign_card.id_tag)
    assert (d.status, d.reason, d.is_free) == ("Accepted", "public", False)
    assert d.tariff.price_per_kwh == D("0.3500")


def test_roaming_cards_charge_only_where_roaming_is_allowed(own_station, roaming_card):
    d = authorize(station=own_station, id_tag=roaming_card.id_tag)
    assert (d.status, d.reason) == ("Invalid", "not_allowed_here")
    own_station.allow_roaming = True
    d = authorize(station=own_station, id_tag=roaming_card.id_tag)
    assert (d.status, d.reason, d.is_free) == ("Accepted", "roaming", False)
    assert d.parent_id_tag is None  # no account, no group


def test_card_in_a_free_access_group_linked_to_the_station_charges_free(own_station, foreign_card):
    from accounts.models import AccessGroup

    group = AccessGroup.objects.create(account=own_station.account, name="Neighbours", terms="free")
    group.stations.add(own_station)
    group.cards.add(foreign_card)
    d = authorize(station=own_station, id_tag=foreign_card.id_tag)
    assert (d.status, d.reason, d.is_free, d.access_group) == ("Accepted", "access_group_free", True, group)


def test_reduced_access_group_replaces_the_station_tariff(own_station, foreign_card):
    from accounts.models import AccessGroup

    own_station.allow_roaming = True
    group = AccessGroup.objects.create(
        account=own_station.account,
        name="Tenants",
        terms="reduced",
        price_per_kwh=D("0.20"),
        price_per_session=None,
    )
    group.stations.add(own_station)
    group.users.add(foreign_card.holder)  # membership through the card's holder counts too
    d = authorize(station=own_station, id_tag=foreign_card.id_tag)
    assert (d.reason, d.is_free) == ("access_group_reduced", False)
    assert (d.tariff.price_per_kwh, d.tariff.price_per_session) == (D("0.20"), None)


def test_access_group_not_linked_to_the_station_does_not_apply(own_station, foreign_station, foreign_card):
    from accounts.models import AccessGroup

    group = AccessGroup.objects.create(account=own_station.account, name="Elsewhere", terms="free")
    group.stations.add(foreign_station)
    group.cards.add(foreign_card)
    assert authorize(station=own_station, id_tag=foreign_card.id_tag).status == "Invalid"


def test_free_group_wins_over_reduced_group(own_station, foreign_card):
    from accounts.models import AccessGroup

    reduced = AccessGroup.objects.create(
        account=own_station.account, name="A", terms="reduced", price_per_kwh=D("0.1")
    )
    free = AccessGroup.objects.create(account=own_station.account, name="B", terms="free")
    for g in (reduced, free):
        g.stations.add(own_station)
        g.cards.add(foreign_card)
    assert authorize(station=own_station, id_tag=foreign_card.id_tag).access_group == free
