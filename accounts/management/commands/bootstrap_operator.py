import secrets

from django.core.management.base import BaseCommand

from accounts.models import User


class Command(BaseCommand):
    help = "Create the first platform operator login if there is no user yet, and print its password once."

    def handle(self, *args, **options):
        if User.objects.exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(
            username="operator", email="operator@localhost", password=password, is_platform_operator=True
        )
        line = "=" * 64
        self.stdout.write(
            f"{line}\nFirst operator login (shown once): username 'operator', password '{password}'\n{line}"
        )
