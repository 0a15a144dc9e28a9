"""Charge card CSV import: good rows land, any bad row rolls the whole file back with a per-row report."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import AccessGroup, AuditEvent, ChargeCard
from accounts.services import cards_import_csv


def upload(text: str, name="cards.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_it_imports_good_rows_normalised(alice_account, account_owner, driver):
    csv = (
        "id_tag,label,holder,status,expires_at,kind,roaming_party\n"
        "04:a2:5b:1c,Front desk,dan,active,2030-01-31,own,\n"
        "04-a2-5b-1d,Spare,,blocked,,own,\n"
        "nl-efl-c12345,Roaming guest,,,,roaming,Hubject\n"
    )
    result = cards_import_csv(account=alice_account, data=csv, acting_user=account_owner)
    assert result.ok, result.errors
    assert sorted(c.id_tag for c in result.created) == ["04A25B1C", "04A25B1D", "NLEFLC12345"]
    front = ChargeCard.objects.get(id_tag="04A25B1C")
    assert front.holder == driver and front.account == alice_account
    assert front.expires_at.date().isoformat() == "2030-01-31"
    assert ChargeCard.objects.get(id_tag="04A25B1D").status == "blocked"
    roaming = ChargeCard.objects.get(id_tag="NLEFLC12345")
    assert roaming.kind == "roaming" and roaming.roaming_party == "Hubject"
    assert AuditEvent.objects.filter(action="card.import", actor=account_owner).count() == 3


def test_it_imports_nothing_when_one_row_is_bad_and_reports_every_bad_row(
    alice_account, account_owner, foreign_card, foreign_user
):
    csv = (
        "id_tag,label,holder,status,expires_at\n"
        "GOOD0001,fine,,,\n"  # line 2
        "GOOD0001,duplicate in file,,,\n"  # line 3
        ",no tag,,,\n"  # line 4
        "GOOD0003,,nobody-here,,\n"  # line 5
        "GOOD0004,,,lost,\n"  # line 6
        "GOOD0005,,,,31/12/2030\n"  # line 7
        f"{foreign_card.id_tag},someone else's,,,\n"  # line 8
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ,too long,,,\n"  # line 9
        f"GOOD0006,,{foreign_user.username},,\n"  # line 10: not a member of this account
    )
    result = cards_import_csv(account=alice_account, data=csv, acting_user=account_owner)
    assert not result.ok
    lines = [line for line, _ in result.errors]
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10]
    messages = dict(result.errors)
    assert "twice" in messages[3]
    assert "empty" in messages[4]
    assert "not a member" in messages[5]
    assert "status" in messages[6]
    assert "date" in messages[7]
    assert "another account" in messages[8]
    assert "longer than 20" in messages[9]
    assert "not a member" in messages[10]
    # Nothing half-imported: not even the good first row.
    assert not ChargeCard.objects.filter(id_tag__startswith="GOOD").exists()
    assert ChargeCard.objects.get(pk=foreign_card.pk).account_id == foreign_card.account_id
    assert not AuditEvent.objects.filter(action="card.import").exists()


def test_it_updates_cards_already_in_the_account(alice_account, account_owner, own_card):
    result = cards_import_csv(
        account=alice_account,
        data=f"id_tag,label,status\n{own_card.id_tag},Relabelled,blocked\n",
        acting_user=account_owner,
    )
    assert result.ok
    assert result.updated == [own_card] and result.created == []
    own_card.refresh_from_db()
    assert (own_card.label, own_card.status) == ("Relabelled", "blocked")


def test_it_accepts_semicolons_and_a_byte_order_mark(alice_account, account_owner):
    data = "\ufeffid_tag;label\nSEMI0001;Excel export\n".encode()
    result = cards_import_csv(account=alice_account, data=data, acting_user=account_owner)
    assert result.ok, result.errors
    assert ChargeCard.objects.get(id_tag="SEMI0001").label == "Excel export"


def test_it_rejects_a_file_without_id_tag_column(alice_account, account_owner):
    result = cards_import_csv(account=alice_account, data="tag,label\nX,Y\n", acting_user=account_owner)
    assert result.errors == [(1, result.errors[0][1])]
    assert "id_tag" in result.errors[0][1]


def test_it_rejects_binary_garbage(alice_account, account_owner):
    result = cards_import_csv(account=alice_account, data=b"\xff\xfe\x00garbage", acting_user=account_owner)
    assert not result.ok


# --- through the portal -----------------------------------------------------------------------------


def test_the_import_page_shows_the_error_report_and_imports_nothing(alice_account, account_owner, client_for):
    client = client_for(account_owner)
    response = client.post(
        reverse("card_import"),
        {"account": alice_account.pk, "file": upload("id_tag,label\nPAGE0001,ok\nPAGE0001,again\n")},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Nothing was imported" in body and "appears twice" in body
    assert not ChargeCard.objects.filter(id_tag="PAGE0001").exists()


def test_the_import_page_imports_good_files(alice_account, account_owner, client_for):
    client = client_for(account_owner)
    response = client.post(
        reverse("card_import"), {"account": alice_account.pk, "file": upload("id_tag\nPAGE0002\nPAGE0003\n")}
    )
    assert response.status_code == 302
    assert set(ChargeCard.objects.filter(account=alice_account).values_list("id_tag", flat=True)) >= {
        "PAGE0002",
        "PAGE0003",
    }


def test_it_refuses_import_into_another_account(alice_account, bob_account, account_owner, client_for):
    client = client_for(account_owner)
    response = client.post(
        reverse("card_import"), {"account": bob_account.pk, "file": upload("id_tag\nSNEAK001\n")}
    )
    # The form offers only the user's own accounts: a foreign one is an invalid choice, nothing imported.
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ChargeCard.objects.filter(id_tag="SNEAK001").exists()


def test_group_import_adds_cards_to_the_group(own_access_group, account_owner, client_for, own_card):
    client = client_for(account_owner)
    response = client.post(
        reverse("access_group_import", args=[own_access_group.pk]),
        {"file": upload(f"id_tag,label\n{own_card.id_tag},\nGRP00001,new one\n")},
    )
    assert response.status_code == 302
    group = AccessGroup.objects.get(pk=own_access_group.pk)
    assert set(group.cards.values_list("id_tag", flat=True)) == {own_card.id_tag, "GRP00001"}
    assert ChargeCard.objects.get(id_tag="GRP00001").account_id == group.account_id


def test_group_import_with_a_bad_row_changes_nothing(
    own_access_group, account_owner, client_for, foreign_card
):
    client = client_for(account_owner)
    response = client.post(
        reverse("access_group_import", args=[own_access_group.pk]),
        {"file": upload(f"id_tag\nGRP00002\n{foreign_card.id_tag}\n")},
    )
    assert response.status_code == 400
    assert "already registered to another account" in response.content.decode()
    assert not ChargeCard.objects.filter(id_tag="GRP00002").exists()
    assert foreign_card not in own_access_group.cards.all()


def test_the_command_line_import_follows_the_same_rules(alice_account, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text("id_tag,label\nCLI00001,from the shell\n")
    call_command("import_cards", str(alice_account.pk), str(good))
    assert ChargeCard.objects.get(id_tag="CLI00001").account == alice_account
    bad = tmp_path / "bad.csv"
    bad.write_text("id_tag\nCLI00002\nCLI00002\n")
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_cards", alice_account.name, str(bad))
    assert not ChargeCard.objects.filter(id_tag="CLI00002").exists()
