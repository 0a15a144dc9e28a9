"""Accounts and their memberships: create and update an account, add, invite, re-role and remove members.
An account always keeps at least one Account admin."""

from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.audit import audit_record, diff
from accounts.models import Account, Membership, User

ACCOUNT_FIELDS = ["name", "kind", "address", "country", "vat_number", "vat_rate", "billing_email"]


@transaction.atomic
def account_create(*, acting_user, **values) -> Account:
    account = Account(**values)
    account.full_clean()
    account.save()
    audit_record(
        actor=acting_user,
        action="account.create",
        obj=account,
        account=account,
        changes=diff(account, {}, ACCOUNT_FIELDS),
    )
    return account


@transaction.atomic
def account_update(*, account: Account, acting_user, **values) -> Account:
    before = {f: getattr(Account.objects.get(pk=account.pk), f) for f in ACCOUNT_FIELDS}
    for name, value in values.items():
        setattr(account, name, value)
    account.full_clean()
    account.save()
    changes = diff(account, before, ACCOUNT_FIELDS)
    if changes:
        audit_record(
            actor=acting_user, action="account.update", obj=account, account=account, changes=changes
        )
    return account


@transaction.atomic
def membership_add(*, account: Account, user: User, role: str, acting_user) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    if Membership.objects.filter(account=account, user=user).exists():
        raise ValidationError(f"{user} is already a member of {account}; change their role instead.")
    membership = Membership.objects.create(account=account, user=user, role=role)
    audit_record(
        actor=acting_user,
        action="membership.create",
        obj=membership,
        account=account,
        changes={"user": [None, user.get_username()], "role": [None, role]},
    )
    return membership


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, acting_user) -> Membership:
    if role not in Membership.Role.values:
        raise ValidationError(f"Unknown role {role!r}.")
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _keep_one_admin(membership, new_role=role)
    before = {"role": membership.role}
    membership.role = role
    membership.save(update_fields=["role"])
    changes = diff(membership, before, ["role"])
    if changes:
        audit_record(
            actor=acting_user,
            action="membership.update",
            obj=membership,
            account=membership.account,
            changes=changes,
        )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, acting_user) -> None:
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _keep_one_admin(membership, new_role=None)
    audit_record(
        actor=acting_user,
        action="membership.delete",
        obj=membership,
        account=membership.account,
        changes={"user": [membership.user.get_username(), None], "role": [membership.role, None]},
    )
    membership.delete()


@transaction.atomic
def member_invite(*, account: Account, email: str, role: str, acting_user, site_url: str) -> Membership:
    """Add someone by e-mail address. Without a login yet, one is made with no usable password and an
    invitation to choose one is e-mailed (the password reset link), after the transaction commits."""
    email = (email or "").strip()
    validate_email(email)
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    invited = user is None
    if invited:
        if User.objects.filter(username__iexact=email).exists():
            raise ValidationError(f"A login named {email!r} exists with another e-mail address.")
        user = User(username=email.lower()[:150], email=email)
        user.set_unusable_password()
        user.save()
        audit_record(
            actor=acting_user,
            action="user.invite",
            obj=user,
            account=account,
            changes={"email": [None, email]},
        )
    membership = membership_add(account=account, user=user, role=role, acting_user=acting_user)
    if invited:
        transaction.on_commit(lambda: _send_invitation(user=user, account=account, site_url=site_url))
    return membership


def _send_invitation(*, user: User, account: Account, site_url: str) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    link = site_url.rstrip("/") + reverse(
        "password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)}
    )
    send_mail(
        subject=f"You have been added to {account} on eflux",
        message=(
            f"You have been added to the account {account} on the eflux charging platform.\n\n"
            f"Choose your password here (your login name is {user.get_username()}):\n{link}\n"
        ),
        from_email=None,
        recipient_list=[user.email],
    )


def _keep_one_admin(membership: Membership, *, new_role: str | None) -> None:
    # An account without an Account admin can only be repaired by an operator; refuse to orphan it.
    admin = Membership.Role.ACCOUNT_ADMIN
    if membership.role == admin and new_role != admin:
        others = Membership.objects.filter(account=membership.account_id, role=admin).exclude(
            pk=membership.pk
        )
        if not others.exists():
            raise ValidationError(f"{membership.account} needs at least one Account admin.")
