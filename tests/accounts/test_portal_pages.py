"""The accounts pages: members and roles, cards, access groups, locations, audit log (htmx partials too)."""

from django.urls import reverse
from django.utils.html import escape

from accounts.models import AccessGroup, AuditEvent, ChargeCard, Location, Membership
from tests.personas import make_user

HX = {"HTTP_HX_REQUEST": "true"}


# --- members and roles ------------------------------------------------------------------------------


def test_account_admin_adds_a_member_and_the_partial_refreshes(account_owner, alice_account, client_for, db):
    newcomer = make_user("nina", email="nina@example.test")
    client = client_for(account_owner)
    response = client.post(
        reverse("account_member_add", args=[alice_account.pk]),
        {"user": "NINA@example.test", "role": "billing_admin"},
        **HX,
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert '<div id="members">' in body and "<html" not in body and "nina" in body
    assert Membership.objects.get(user=newcomer, account=alice_account).role == "billing_admin"
    assert AuditEvent.objects.filter(action="membership.create", actor=account_owner).exists()


def test_adding_an_unknown_user_shows_the_error_in_the_partial(account_owner, alice_account, client_for):
    response = client_for(account_owner).post(
        reverse("account_member_add", args=[alice_account.pk]), {"user": "ghost", "role": "driver"}, **HX
    )
    assert "No user with username or e-mail" in response.content.decode()


def test_role_change_is_audited_with_before_and_after(account_owner, driver, alice_account, client_for):
    membership = Membership.objects.get(user=driver, account=alice_account)
    client_for(account_owner).post(
        reverse("membership_edit", args=[membership.pk]), {"role": "billing_admin"}
    )
    membership.refresh_from_db()
    assert membership.role == "billing_admin"
    event = AuditEvent.objects.get(action="membership.update")
    assert event.changes == {"role": ["driver", "billing_admin"]}


def test_the_last_account_admin_cannot_be_removed_or_demoted(account_owner, alice_account, client_for):
    membership = Membership.objects.get(user=account_owner, account=alice_account)
    client = client_for(account_owner)
    response = client.post(
        reverse("membership_edit", args=[membership.pk]), {"action": "remove"}, follow=True
    )
    assert "needs at least one Account admin" in response.content.decode()
    client.post(reverse("membership_edit", args=[membership.pk]), {"role": "driver"})
    membership.refresh_from_db()
    assert membership.role == "account_admin"


def test_billing_admin_edits_billing_details_but_not_members(billing_admin, alice_account, client_for):
    client = client_for(billing_admin)
    page = client.get(reverse("account_detail", args=[alice_account.pk])).content.decode()
    assert 'name="billing_email"' in page and "Add a member" not in page
    response = client.post(
        reverse("account_detail", args=[alice_account.pk]),
        {
            "name": alice_account.name,
            "kind": "company",
            "vat_rate": "9.00",
            "billing_email": "new@alice.test",
        },
    )
    assert response.status_code == 302
    alice_account.refresh_from_db()
    assert alice_account.billing_email == "new@alice.test"
    assert AuditEvent.objects.get(action="account.update").changes["vat_rate"] == ["21.00", "9.00"]


def test_driver_sees_the_account_name_but_not_its_members(driver, alice_account, account_owner, client_for):
    page = client_for(driver).get(reverse("account_detail", args=[alice_account.pk])).content.decode()
    assert alice_account.name in page and account_owner.email not in page


# --- cards ------------------------------------------------------------------------------------------


def test_card_list_filters_with_htmx_partial(account_owner, own_card, alice_account, client_for):
    ChargeCard.objects.create(id_tag="ZZZ999", account=alice_account, status="blocked")
    client = client_for(account_owner)
    response = client.get(reverse("card_list"), {"status": "blocked"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith('<table class="list" id="card-table">')
    assert "ZZZ999" in body and own_card.id_tag not in body


def test_driver_sees_only_their_own_cards_and_cannot_block(driver, own_card, alice_account, client_for):
    ChargeCard.objects.create(id_tag="COLLEAGUE1", account=alice_account)
    client = client_for(driver)
    body = client.get(reverse("card_list")).content.decode()
    assert own_card.id_tag in body and "COLLEAGUE1" not in body and ">Block<" not in body
    assert client.post(reverse("card_status", args=[own_card.pk]), {"status": "blocked"}).status_code == 403
    own_card.refresh_from_db()
    assert own_card.status == "active"


def test_block_swaps_the_row(account_owner, own_card, client_for):
    response = client_for(account_owner).post(
        reverse("card_status", args=[own_card.pk]), {"status": "blocked"}, **HX
    )
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="card-{own_card.pk}">') and "Unblock" in body
    own_card.refresh_from_db()
    assert own_card.status == "blocked"


def test_card_form_normalises_and_refuses_duplicates(account_owner, alice_account, own_card, client_for):
    client = client_for(account_owner)
    data = {"id_tag": "aa:bb:cc", "kind": "own", "account": alice_account.pk, "status": "active"}
    assert client.post(reverse("card_create"), data).status_code == 302
    assert ChargeCard.objects.filter(id_tag="AABBCC").exists()
    response = client.post(reverse("card_create"), {**data, "id_tag": own_card.id_tag.lower()})
    assert response.status_code == 200 and "already exists" in response.content.decode()


def test_roaming_card_needs_its_partner(account_owner, alice_account, client_for):
    response = client_for(account_owner).post(
        reverse("card_create"),
        {"id_tag": "ROAM1", "kind": "roaming", "account": alice_account.pk, "status": "active"},
    )
    assert "roaming partner" in response.content.decode()
    assert not ChargeCard.objects.filter(id_tag="ROAM1").exists()


# --- access groups ----------------------------------------------------------------------------------


def test_reduced_group_needs_a_price_and_free_group_drops_prices(account_owner, alice_account, client_for):
    client = client_for(account_owner)
    base = {"account": alice_account.pk, "name": "Tenants", "currency": "EUR"}
    response = client.post(reverse("access_group_create"), {**base, "terms": "reduced"})
    assert "needs at least one price" in response.content.decode()
    response = client.post(reverse("access_group_create"), {**base, "terms": "free", "price_per_kwh": "0.10"})
    assert response.status_code == 302
    group = AccessGroup.objects.get(name="Tenants")
    assert group.price_per_kwh is None
    response = client.post(
        reverse("access_group_edit", args=[group.pk]),
        {**base, "terms": "reduced", "price_per_kwh": "0.12", "price_per_hour": "1.00", "is_shared": "on"},
    )
    assert response.status_code == 302
    group.refresh_from_db()
    assert (str(group.price_per_kwh), str(group.price_per_hour), group.is_shared) == (
        "0.1200",
        "1.0000",
        True,
    )


def test_group_members_must_belong_to_the_groups_account(
    account_owner, own_access_group, foreign_card, foreign_station, foreign_user, driver, client_for
):
    client = client_for(account_owner)
    url = reverse("access_group_edit", args=[own_access_group.pk])
    base = {"name": own_access_group.name, "terms": "free", "currency": "EUR"}
    for extra in (
        {"cards": [foreign_card.pk]},
        {"stations": [foreign_station.pk]},
        {"users": [foreign_user.pk]},
    ):
        response = client.post(url, {**base, **extra})
        assert response.status_code == 200, extra
    assert set(own_access_group.cards.all()) != {foreign_card}
    response = client.post(url, {**base, "users": [driver.pk]})
    assert response.status_code == 302
    assert list(own_access_group.users.all()) == [driver]
    event = AuditEvent.objects.filter(action="access_group.update").latest("id")
    assert event.changes["users"] == [None, driver.username]


def test_deleting_a_group_is_audited(account_owner, own_access_group, client_for):
    client_for(account_owner).post(reverse("access_group_delete", args=[own_access_group.pk]))
    assert not AccessGroup.objects.filter(pk=own_access_group.pk).exists()
    assert AuditEvent.objects.filter(
        action="access_group.delete", object_id=str(own_access_group.pk)
    ).exists()


# --- locations and audit log ------------------------------------------------------------------------


def test_location_timezone_is_validated(account_owner, alice_account, client_for):
    client = client_for(account_owner)
    data = {"account": alice_account.pk, "name": "Depot", "timezone": "Mars/Olympus"}
    assert "IANA time zone" in client.post(reverse("location_create"), data).content.decode()
    data["timezone"] = "Europe/Amsterdam"
    assert client.post(reverse("location_create"), data).status_code == 302
    assert Location.objects.get(name="Depot").timezone == "Europe/Amsterdam"


def test_audit_log_shows_own_account_events_only(
    account_owner, foreign_user, own_card, foreign_card, client_for
):
    from accounts.audit import audit_record

    audit_record(actor=account_owner, action="card.update", obj=own_card, account=own_card.account)
    audit_record(actor=foreign_user, action="card.update", obj=foreign_card, account=foreign_card.account)
    body = client_for(account_owner).get(reverse("audit_list")).content.decode()
    assert escape(own_card.label) in body and escape(foreign_card.label) not in body


def test_menu_shows_only_the_links_a_role_can_open(fst, driver, account_owner, client_for):
    fst_page = client_for(fst).get(reverse("account_list")).content.decode()
    assert reverse("card_list") not in fst_page and reverse("access_group_list") not in fst_page
    driver_page = client_for(driver).get(reverse("account_list")).content.decode()
    assert reverse("card_list") in driver_page and reverse("station_activation") not in driver_page
    owner_page = client_for(account_owner).get(reverse("account_list")).content.decode()
    for name in ("card_list", "access_group_list", "location_list", "station_activation", "audit_list"):
        assert reverse(name) in owner_page


def test_a_new_person_is_invited_by_email(
    account_owner, alice_account, client_for, django_capture_on_commit_callbacks
):
    from django.core import mail

    client = client_for(account_owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("account_member_add", args=[alice_account.pk]),
            {"user": "Newbie@Example.test", "role": "driver"},
        )
    assert response.status_code == 302
    membership = Membership.objects.get(account=alice_account, user__email="Newbie@Example.test")
    assert membership.role == "driver" and not membership.user.has_usable_password()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["Newbie@Example.test"]
    link = next(line for line in mail.outbox[0].body.splitlines() if "/password-reset/" in line)
    page = client_for(membership.user).get(link.split("testserver", 1)[1], follow=True)
    assert page.status_code == 200 and "Choose a new password" in page.content.decode()
    assert AuditEvent.objects.filter(action="user.invite", actor=account_owner).exists()


def test_location_coordinates_are_validated(account_owner, alice_account, client_for):
    data = {
        "account": alice_account.pk,
        "name": "Pier",
        "timezone": "UTC",
        "latitude": "95",
        "longitude": "4.5",
    }
    body = client_for(account_owner).post(reverse("location_create"), data).content.decode()
    assert "between -90 and 90" in body
    assert not Location.objects.filter(name="Pier").exists()


def test_operator_registers_a_roaming_card_without_account(operator, client_for):
    data = {"id_tag": "DE-ROAM-1", "kind": "roaming", "roaming_party": "Hubject", "status": "active"}
    assert client_for(operator).post(reverse("card_create"), data).status_code == 302
    assert ChargeCard.objects.get(id_tag="DEROAM1").account is None


def test_a_card_past_its_expiry_date_is_listed_as_expired(account_owner, own_card, client_for):
    from datetime import timedelta

    from django.utils import timezone

    own_card.expires_at = timezone.now() - timedelta(days=1)
    own_card.save()
    assert own_card.is_expired
    row = client_for(account_owner).get(reverse("card_list"), HTTP_HX_REQUEST="true").content.decode()
    assert "status-expired" in row
