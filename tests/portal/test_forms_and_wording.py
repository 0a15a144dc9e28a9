"""Forms and wording in a browser (issue 13, item 6): an unchanged Settings form saves nothing and says so;
codes typed in lower case are taken; VAT rate and country are checked at the field in the operator's words;
a non-ASCII idTag is a field error; the operator's empty Accounts page; access groups follow the chosen account;
a way back to the station after generating EVSE IDs."""

import pytest
from playwright.sync_api import expect

from accounts.models import AccessGroup, Account, AuditEvent
from stations.models import Station
from tests.browser import login, shot
from tests.personas import PASSWORD, make_station


@pytest.mark.browser
def test_unchanged_settings_save_nothing_and_lower_case_currency_is_taken(
    daphne_server, page, operator, own_station
):
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{own_station.pk}/settings/")
    before = AuditEvent.objects.filter(station=own_station, action="station.settings").count()
    page.click("#save-settings")
    expect(page.locator("ul.messages")).to_contain_text("Nothing changed")
    expect(page.locator("ul.messages")).not_to_contain_text("Settings saved.")
    assert AuditEvent.objects.filter(station=own_station, action="station.settings").count() == before

    page.fill("input[name=currency]", "")
    page.locator("input[name=currency]").press_sequentially("eur", delay=50)
    page.fill("input[name=price_per_kwh]", "0.3")
    page.click("#save-settings")
    expect(page.locator("ul.messages")).to_contain_text("Settings saved.")
    expect(page.locator("input[name=currency]")).to_have_value("EUR")
    own_station.refresh_from_db()
    assert own_station.currency == "EUR"

    page.fill("input[name=price_per_kwh]", "0.123456")
    page.click("#save-settings")
    expect(page.locator("#field-price_per_kwh .error")).to_have_text("At most 4 decimals, e.g. 0.3500.")


@pytest.mark.browser
def test_account_form_checks_vat_rate_and_country_at_the_field(daphne_server, page, operator):
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/accounts/")
    expect(page.locator("table.list")).to_contain_text("No accounts yet")
    expect(page.locator("table.list")).not_to_contain_text("You are not a member")
    page.goto(f"{daphne_server.http_url}/accounts/new/")
    expect(page.locator("label[for=id_vat_number]")).to_have_text("VAT number")
    expect(page.locator("label[for=id_vat_rate]")).to_have_text("VAT rate (%)")
    page.fill("input[name=name]", "Nederland Laadt BV")
    page.fill("input[name=country]", "XX")
    page.fill("input[name=vat_rate]", "-5")
    page.click("main button[type=submit]")
    expect(page.locator("#field-vat_rate .error")).to_have_text(
        "The VAT rate is a percentage between 0 and 100."
    )
    expect(page.locator("#field-country .error")).to_contain_text("not an ISO 3166 country code")
    page.fill("input[name=vat_rate]", "1000")
    page.click("main button[type=submit]")
    expect(page.locator("#field-vat_rate .error")).to_have_text(
        "The VAT rate is a percentage between 0 and 100."
    )
    assert not Account.objects.exists()

    page.fill("input[name=country]", "nl")  # any case: stored upper case
    page.fill("input[name=vat_rate]", "21")
    page.click("main button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Nederland Laadt BV")
    account = Account.objects.get()
    assert account.country == "NL" and account.vat_rate == 21
    shot(page, "account-created")


@pytest.mark.browser
def test_a_non_ascii_idtag_is_a_field_error(daphne_server, page, account_owner):
    login(page, daphne_server, account_owner.username, PASSWORD)
    page.goto(f"{daphne_server.http_url}/cards/new/")
    page.fill("input[name=id_tag]", "Ä1B2C3")
    page.click("main button[type=submit]")
    expect(page.locator("#field-id_tag .error")).to_contain_text("outside printable ASCII")
    expect(page.locator("ul.errors")).to_have_count(0)  # no banner above the form


@pytest.mark.browser
def test_access_groups_follow_the_chosen_account(daphne_server, page, operator, alice_account, bob_account):
    AccessGroup.objects.create(account=alice_account, name="Alice staff")
    AccessGroup.objects.create(account=bob_account, name="Bob tenants")
    station = make_station("NEW-AG", setup_state=Station.SetupState.ACTIVATION_PENDING)
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{station.pk}/settings/")
    groups = page.locator("#field-access_groups")
    expect(groups.get_by_text("Alice staff")).to_be_hidden()
    expect(groups.get_by_text("Bob tenants")).to_be_hidden()
    expect(page.locator("#access-groups-hint")).to_have_text("Choose the account first.")
    page.select_option("select[name=account]", label=alice_account.name)
    expect(groups.get_by_text("Alice staff")).to_be_visible()
    expect(groups.get_by_text("Bob tenants")).to_be_hidden()


@pytest.mark.browser
def test_after_generating_evse_ids_the_operator_gets_back_to_the_station(daphne_server, page, operator):
    station = make_station("NO-POOL", connectors=(0, 1), setup_state=Station.SetupState.SETUP_IN_PROGRESS)
    login(page, daphne_server, "operator", PASSWORD)
    page.goto(f"{daphne_server.http_url}/stations/{station.pk}/connectors/")
    page.click("#c1-card >> text=Generate EVSE IDs")
    page.fill("input[name=country_code]", "NL")
    page.fill("input[name=operator_id]", "EFL")
    page.fill("input[name=count]", "5")
    page.click("#generate-evse-ids")
    expect(page.locator("ul.messages")).to_contain_text("5 EVSE IDs generated")
    page.click("#back-to-station")
    assert page.url.endswith(f"/stations/{station.pk}/connectors/")
    expect(page.locator("#c1-evse")).to_have_text("NL*EFL*E000001")


@pytest.mark.django_db
def test_access_group_prices_are_checked_in_the_operators_words(operator, alice_account):
    from accounts.forms import AccessGroupForm

    form = AccessGroupForm(
        {
            "account": alice_account.pk,
            "name": "Staff",
            "terms": "reduced",
            "price_per_kwh": "0.123456",
            "price_per_hour": "-1",
            "currency": "eur",
        },
        user=operator,
    )
    assert not form.is_valid()
    assert form.errors["price_per_kwh"] == ["At most 4 decimals, e.g. 0.3500."]
    assert form.errors["price_per_hour"] == ["A price cannot be negative."]
    assert "currency" not in form.errors
