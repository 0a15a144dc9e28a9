"""accounts.access: the one place that decides who sees what."""

import pytest
from django.apps import apps
from django.http import Http404

from accounts import access
from accounts.models import AccessGroup, Account, ChargeCard, Location, Membership
from stations.models import Station
from tests.personas import make_member


def visible_stations(user):
    return set(Station.objects.visible_to(user))


def test_operator_sees_every_station(operator, own_station, foreign_station, pending_station):
    assert visible_stations(operator) == {own_station, foreign_station, pending_station}


def test_account_members_see_their_accounts_stations(
    account_owner, billing_admin, own_station, foreign_station
):
    assert visible_stations(account_owner) == {own_station}
    assert visible_stations(billing_admin) == {own_station}


def test_technician_sees_only_the_stations_their_account_services(
    fst, own_station, foreign_station, alice_account
):
    other = Station.objects.create(ocpp_id="ALICE-002", account=alice_account)  # same customer, not serviced
    assert visible_stations(fst) == {own_station}
    assert other not in visible_stations(fst)


def test_driver_and_strangers_see_no_stations(driver, own_station, db):
    from accounts.models import User

    assert visible_stations(driver) == set()
    assert visible_stations(User.objects.create(username="nobody")) == set()


def test_anonymous_sees_nothing(own_station):
    from django.contrib.auth.models import AnonymousUser

    assert visible_stations(AnonymousUser()) == set()


def test_inactive_operator_sees_nothing(operator, own_station):
    operator.is_active = False
    assert not access.is_platform_operator(operator)
    assert visible_stations(operator) == set()


def test_get_station_for_user_is_404_for_foreign_and_hidden(account_owner, fst, own_station, foreign_station):
    assert (
        access.get_for_user_or_404(Station.objects.commercial_to(account_owner), own_station.pk)
        == own_station
    )
    with pytest.raises(Http404):
        access.get_for_user_or_404(Station.objects.commercial_to(account_owner), foreign_station.pk)
    # Technicians: technical pages yes, pages with prices no.
    assert (
        access.get_for_user_or_404(Station.objects.for_user(fst, technical=True), own_station.pk)
        == own_station
    )
    with pytest.raises(Http404):
        access.get_for_user_or_404(Station.objects.commercial_to(fst), own_station.pk)
    with pytest.raises(Http404):
        access.get_for_user_or_404(Station.objects.for_user(fst, technical=True), foreign_station.pk)
    with pytest.raises(Http404):
        access.get_for_user_or_404(Station.objects.commercial_to(account_owner), "not-a-number")


def test_prices_and_management(
    operator, account_owner, billing_admin, fst, driver, foreign_user, own_station
):
    assert [
        access.can_see_prices(u, own_station)
        for u in (operator, account_owner, billing_admin, fst, driver, foreign_user)
    ] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert [
        access.can_manage_station(u, own_station)
        for u in (operator, account_owner, billing_admin, fst, driver, foreign_user)
    ] == [True, True, False, True, False, False]
    assert [
        access.can_edit_station_settings(u, own_station)
        for u in (operator, account_owner, billing_admin, fst, driver, foreign_user)
    ] == [True, True, False, False, False, False]


def test_a_user_in_several_accounts_sees_both(account_owner, bob_account, own_station, foreign_station):
    Membership.objects.create(user=account_owner, account=bob_account, role=Membership.Role.BILLING_ADMIN)
    assert visible_stations(account_owner) == {own_station, foreign_station}
    assert access.can_manage_station(account_owner, own_station)
    assert not access.can_manage_station(account_owner, foreign_station)  # only billing admin there
    assert access.can_see_prices(account_owner, foreign_station)


def test_a_technician_who_is_also_an_account_admin_keeps_both_views(fst, alice_account, own_station):
    Membership.objects.create(user=fst, account=alice_account, role=Membership.Role.ACCOUNT_ADMIN)
    assert access.can_see_prices(fst, own_station)
    assert access.get_for_user_or_404(Station.objects.commercial_to(fst), own_station.pk) == own_station


def test_cards(
    operator, account_owner, billing_admin, fst, driver, foreign_user, own_card, foreign_card, alice_account
):
    other = ChargeCard.objects.create(id_tag="ALICE0002", account=alice_account)  # not the driver's
    qs = ChargeCard.objects.all()
    assert set(qs.visible_to(operator)) == {own_card, foreign_card, other}
    assert set(qs.visible_to(account_owner)) == {own_card, other}
    assert set(qs.visible_to(billing_admin)) == {own_card, other}
    assert set(qs.visible_to(driver)) == {own_card}
    assert set(qs.visible_to(fst)) == set()
    assert set(qs.visible_to(foreign_user)) == {foreign_card}


def test_accounts_locations_groups(
    account_owner,
    fst,
    driver,
    own_location,
    foreign_location,
    own_access_group,
    foreign_access_group,
    service_account,
):
    assert set(Account.objects.all().visible_to(fst)) == {service_account}
    assert set(Account.objects.all().managed_by(driver)) == set()
    assert set(Location.objects.all().visible_to(account_owner)) == {own_location}
    assert set(Location.objects.all().visible_to(fst)) == set()
    assert set(AccessGroup.objects.all().visible_to(account_owner)) == {own_access_group}
    assert set(AccessGroup.objects.all().visible_to(driver)) == set()


def test_shared_groups_are_linkable_by_other_accounts_stations(
    own_station, foreign_access_group, own_access_group
):
    qs = AccessGroup.objects.all()
    assert set(qs.linkable_to(own_station)) == {own_access_group}
    foreign_access_group.is_shared = True
    foreign_access_group.save()
    assert set(qs.linkable_to(own_station)) == {own_access_group, foreign_access_group}


def test_sessions(
    account_owner,
    billing_admin,
    fst,
    driver,
    foreign_user,
    own_station,
    foreign_station,
    own_card,
    foreign_card,
    alice_account,
    bob_account,
):
    ChargingSession = apps.get_model("billing", "ChargingSession")
    at_own = ChargingSession.objects.create(station=own_station, account=alice_account, card=foreign_card)
    mine_elsewhere = ChargingSession.objects.create(
        station=foreign_station, account=bob_account, card=own_card
    )
    other_driver_card = ChargeCard.objects.create(id_tag="ALICE0009", account=alice_account)
    colleague = ChargingSession.objects.create(
        station=own_station, account=alice_account, card=other_driver_card
    )
    qs = ChargingSession.objects.all()
    assert set(qs.visible_to(account_owner)) == {at_own, mine_elsewhere, colleague}
    assert set(qs.visible_to(billing_admin)) == {at_own, mine_elsewhere, colleague}
    assert set(qs.visible_to(driver)) == {mine_elsewhere}
    assert set(qs.visible_to(fst)) == set()
    # Bob sees the sessions at his station (one with alice's card) and the one charged with his account's
    # card at alice's station (his driver's cost), never alice's other sessions.
    assert set(qs.visible_to(foreign_user)) == {at_own, mine_elsewhere}


def test_a_session_stays_with_the_account_it_started_in(
    account_owner, foreign_user, own_station, alice_account, bob_account
):
    ChargingSession = apps.get_model("billing", "ChargingSession")
    session = ChargingSession.objects.create(station=own_station, account=alice_account)
    own_station.account = bob_account
    own_station.save()
    assert list(ChargingSession.objects.all().visible_to(account_owner)) == [session]
    assert list(ChargingSession.objects.all().visible_to(foreign_user)) == []


def test_role_changes_take_effect_immediately(account_owner, alice_account, own_station):
    assert access.can_manage_station(account_owner, own_station)
    Membership.objects.filter(user=account_owner).update(role=Membership.Role.DRIVER)
    assert not access.can_manage_station(account_owner, own_station)
    assert visible_stations(account_owner) == set()


def test_make_member_helper_builds_a_working_login(alice_account):
    from tests.personas import PASSWORD

    user = make_member("extra", alice_account, Membership.Role.DRIVER)
    assert user.check_password(PASSWORD)
