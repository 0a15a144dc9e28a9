from django import template

from accounts import access
from accounts.models import Membership

register = template.Library()


@register.inclusion_tag("accounts/partials/menu_links.html", takes_context=True)
def accounts_menu(context):
    """The accounts part of the menu, with only the links the user's roles can open (the views check again)."""
    user = context["request"].user
    operator = access.is_platform_operator(user)
    manages = operator or bool(access.account_ids(user, access.MANAGE_ROLES))
    full = operator or bool(access.account_ids(user, access.FULL_ROLES))
    driver = bool(access.account_ids(user, (Membership.Role.DRIVER,)))
    return {
        "show_accounts": user.is_authenticated,
        "show_activation": manages,
        "show_cards": full or driver,
        "show_groups": full,
        "show_locations": full,
        "show_audit": manages,
    }
