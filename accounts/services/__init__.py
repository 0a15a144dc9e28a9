"""Writes on accounts, memberships, locations, cards and access groups;
one module per workflow.

Every function here is the one code path for its workflow: the portal views, the Django admin and the
management commands call it. Each runs in one transaction and writes its audit event inside it.
"""

from accounts.services.access_groups import access_group_delete, access_group_save
from accounts.services.accounts import (
    account_create,
    account_update,
    member_invite,
    membership_add,
    membership_remove,
    membership_set_role,
)
from accounts.services.cards import ImportResult, card_save, card_set_status, cards_import_csv
from accounts.services.locations import location_save

__all__ = [
    "ImportResult",
    "access_group_delete",
    "access_group_save",
    "account_create",
    "account_update",
    "card_save",
    "card_set_status",
    "cards_import_csv",
    "location_save",
    "member_invite",
    "membership_add",
    "membership_remove",
    "membership_set_role",
]
