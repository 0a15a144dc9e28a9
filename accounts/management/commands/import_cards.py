from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Account
from accounts.services import cards_import_csv


class Command(BaseCommand):
    help = "Import charge cards from a CSV file into an account: all rows or none (same rules as the portal)."

    def add_arguments(self, parser):
        parser.add_argument("account", help="account id or exact name")
        parser.add_argument("csv_file", type=Path)

    def handle(self, *args, account, csv_file, **options):
        target = Account.objects.filter(pk=int(account)).first() if account.isdigit() else None
        target = target or Account.objects.filter(name=account).first()
        if target is None:
            raise CommandError(f"No account {account!r}.")
        result = cards_import_csv(account=target, data=csv_file.read_bytes(), acting_user=None)
        if not result.ok:
            for line, message in result.errors:
                self.stderr.write(f"line {line}: {message}")
            raise CommandError(f"Nothing imported: {len(result.errors)} bad row(s).")
        self.stdout.write(
            f"Imported {len(result.created)} new and updated {len(result.updated)} cards into {target}."
        )
