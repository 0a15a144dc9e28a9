"""Login safety: throttled failed logins, password reset by e-mail. (`manage.py check --deploy` with
production settings runs in scripts/test.sh.)"""

import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.personas import PASSWORD

ROOT = Path(__file__).resolve().parents[2]


def login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_page_renders_and_logs_in(account_owner):
    client = Client()
    assert client.get(reverse("login")).status_code == 200
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert client.get(reverse("account_list")).status_code == 200


def test_logout_is_post_only_and_ends_the_session(account_owner, client_for):
    client = client_for(account_owner)
    assert client.get(reverse("logout")).status_code == 405
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("account_list")).status_code == 302


def test_it_locks_out_after_too_many_failed_logins(account_owner):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = login(client, "alice", "wrong password")
        assert response.status_code == 200  # the form again, with an error
    # The failure that reaches the limit locks the login out.
    assert login(client, "alice", "wrong password").status_code == 429
    # Locked: even the right password is refused now.
    response = login(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_is_per_username_and_address(account_owner, billing_admin):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login(client, "alice", "wrong password")
    # Another user from the same address is not locked out by alice's failures.
    assert login(client, "bella", PASSWORD).status_code == 302


def test_a_successful_login_resets_the_failure_count(account_owner):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "alice", "wrong password")
    assert login(client, "alice", PASSWORD).status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        login(client, "alice", "wrong password")
    assert login(client, "alice", PASSWORD).status_code == 302


def test_password_reset_by_email(account_owner):
    client = Client()
    response = client.post(reverse("password_reset"), {"email": account_owner.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [account_owner.email]
    link = re.search(r"https?://[^/]+(/password-reset/[^\s]+/)", message.body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    new_password = "A-brand-new-passphrase-77"
    response = client.post(
        form_page.redirect_chain[-1][0] if form_page.redirect_chain else link,
        {"new_password1": new_password, "new_password2": new_password},
    )
    assert response.status_code == 302
    account_owner.refresh_from_db()
    assert account_owner.check_password(new_password)


def test_password_reset_does_not_reveal_unknown_addresses(db):
    response = Client().post(reverse("password_reset"), {"email": "nobody@example.test"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_console_email_backend_is_the_default():
    # Set in settings from EMAIL_BACKEND; tests swap in locmem, so read the source of truth.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django,os;django.setup();from django.conf import settings;print(settings.EMAIL_BACKEND)",
        ],
        cwd=ROOT,
        env={**_clean_env(), "DJANGO_SETTINGS_MODULE": "eflux.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.stdout.strip() == "django.core.mail.backends.console.EmailBackend", out.stderr


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EMAIL_"))}
    env.pop("DATABASE_URL", None)
    return env
