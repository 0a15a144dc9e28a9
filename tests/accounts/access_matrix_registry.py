"""How the access matrix (test_access_matrix.py) calls every URL pattern, and who may do what.

ONE ENTRY PER URL NAME ("namespace:name" when namespaced). A URL pattern without an entry fails the matrix
with a message pointing here: when you add a view, add its entry in the same change.

The matrix asserts the one status code the rule in accounts/access.py gives: an object the user may not see
(foreign, or hidden from the role) is 404, so its existence does not leak; an object the user sees, or a
page without an object, with an action the role may not do is 403.

An entry says
- kwargs(w): the URL kwargs built from a World `w` (the objects of one account, see below); None when the
  pattern has no parameters;
- visible: for a pattern with kwargs, the roles that see the object of their own world; every other role
  gets 404 for it, as for a foreign object;
- get: the roles that may GET the page for their own objects (get_status; htmx_status for the htmx
  partial when it differs); a role that sees the object but is not in `get` gets 403, and every role but
  the operator gets foreign_status (404) for a foreign object; a POST-only view (get empty) answers 405;
- post: the roles whose POST works (post_status), or None when the view takes no POST worth checking;
  post_data(w) is the body (files in post_files(w)); refused roles get 403 or 404 by the same rule and
  nothing is written (no OcppCall is queued, no AuditEvent is recorded);
- query: a query string for the GET (e.g. an htmx lookup); htmx=True also checks the htmx partial.

Roles: "operator", "account_admin", "billing_admin", "fst" (Field Service Technician of the account that
services the station), "driver" (holder of the card). foreign_user is an "account_admin" of another account.

A World `w` has: account, station (connectors 1 and 2; EVSE ID on connector 1), connector, card,
access_group, location, membership (a driver's membership), session (a completed charging session with
w.card at w.station), pending_station (in Activation pending, no account yet), evse_id, invoice (an issued
usage invoice of the account, one line), run (a billing run).
"""

from collections.abc import Callable
from dataclasses import dataclass

OPERATOR = "operator"
ACCOUNT_ADMIN = "account_admin"
BILLING_ADMIN = "billing_admin"
FST = "fst"
DRIVER = "driver"
ROLES = (OPERATOR, ACCOUNT_ADMIN, BILLING_ADMIN, FST, DRIVER)

NOBODY: frozenset = frozenset()
OPERATORS = frozenset({OPERATOR})
MANAGERS = frozenset({OPERATOR, ACCOUNT_ADMIN})
FULL = frozenset({OPERATOR, ACCOUNT_ADMIN, BILLING_ADMIN})
CARD_READERS = FULL | {DRIVER}
# Technical station pages: technicians see them; prices stay out (checked by test_field_service).
STATION_READERS = FULL | {FST}
STATION_MANAGERS = MANAGERS | {FST}
EVERYONE = frozenset(ROLES)

# Who sees an object of their own world (accounts/access.py), for `visible`.
ACCOUNT_MEMBERS = CARD_READERS  # an account, its memberships: every member (the technician is not one)
CARD_SEERS = CARD_READERS  # a card, a session: the account's full roles and the card's holder
COMMERCIAL = FULL  # access groups, locations, a station's prices and sessions
TECHNICAL = STATION_READERS  # a station's technical pages: technicians of its service account too


@dataclass(frozen=True)
class Entry:
    kwargs: Callable | None = None
    visible: frozenset | None = None
    get: frozenset = NOBODY
    post: frozenset | None = None
    post_data: Callable | None = None
    post_files: Callable | None = None
    post_status: int = 302
    get_status: int = 200
    htmx_status: int | None = None
    query: str = ""
    htmx: bool = False
    # An allowed POST must leave a trace (an AuditEvent or a queued OcppCall). False for commands to an
    # offline station that are refused by the station's state, not by access.
    post_records: bool = True
    # What a non-operator gets for another account's object. 404 everywhere, except pages that refuse the
    # role before looking at the object (operator-only pages answer 403 whatever the object, existing or not).
    foreign_status: int = 404
    # Pages anyone may open without logging in (none so far besides the excluded login/reset pages).
    public: bool = False


def pk(name):
    return lambda w: {"pk": getattr(w, name).pk}


def _failed_key(w):
    """A key the station rejected, for 'not applicable here' (created on first use)."""
    from stations.models import StationConfigurationKey

    StationConfigurationKey.objects.get_or_create(
        station=w.station, key="LightIntensity", defaults={"desired_value": "50", "state": "rejected"}
    )
    return {"key": "LightIntensity", "reason": "no light on this model"}


def _default_profile(w):
    from stations.services.profiles import profile_default

    return profile_default("1.6")


def _commissioning_run(w):
    from stations.models import CommissioningRun

    run, _ = CommissioningRun.objects.get_or_create(
        station=w.station, defaults={"connector_id": 1, "id_tag": "TESTCARD", "status": "failed"}
    )
    return run


def _card_csv(w):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = f"id_tag,label\nMATRIX{w.account.pk:04d}A,matrix card\n".encode()
    return {"file": SimpleUploadedFile("cards.csv", body, content_type="text/csv")}


REGISTRY: dict[str, Entry] = {
    # The load balancer's health check (eflux/views.py): no login, the same answer for everyone.
    "healthz": Entry(get=EVERYONE, public=True),
    # --- accounts --------------------------------------------------------------------------
    "account_list": Entry(get=EVERYONE),
    "account_create": Entry(
        get=OPERATORS,
        post=OPERATORS,
        post_data=lambda w: {"name": "Matrix Co", "kind": "company", "vat_rate": "21.00"},
    ),
    # Every member sees their account's page (name, own role); only admins change it. The technician's own
    # account is the service company, not the station's account: the station's account is hidden from it.
    "account_detail": Entry(
        kwargs=pk("account"),
        visible=ACCOUNT_MEMBERS,
        get=CARD_READERS,
        post=FULL,
        post_data=lambda w: {"name": w.account.name + " (renamed)", "kind": "company", "vat_rate": "20.00"},
    ),
    "account_member_add": Entry(
        kwargs=pk("account"),
        visible=ACCOUNT_MEMBERS,
        post=MANAGERS,
        post_data=lambda w: {"user": w.outsider.username, "role": "driver"},
    ),
    "membership_edit": Entry(
        kwargs=pk("membership"),
        visible=ACCOUNT_MEMBERS,
        post=MANAGERS,
        post_data=lambda w: {"role": "billing_admin"},
    ),
    "station_activation": Entry(
        get=MANAGERS,
        post=MANAGERS,
        post_data=lambda w: {
            "query": w.pending_station.ocpp_id,
            "account": w.account.pk,
            "billing_plan": w.station.billing_plan_id,
            "location": w.location.pk,
        },
        query="?query=PENDING",
        htmx=True,
    ),
    "card_list": Entry(get=CARD_READERS, htmx=True),
    "card_create": Entry(
        get=MANAGERS,
        post=MANAGERS,
        post_data=lambda w: {
            "id_tag": f"NEW{w.account.pk:04d}",
            "kind": "own",
            "account": w.account.pk,
            "status": "active",
        },
    ),
    "card_import": Entry(
        get=MANAGERS,
        post=MANAGERS,
        post_data=lambda w: {"account": w.account.pk},
        post_files=_card_csv,
    ),
    # A driver opens their own card read-only.
    "card_edit": Entry(
        kwargs=pk("card"),
        visible=CARD_SEERS,
        get=CARD_READERS,
        post=MANAGERS,
        post_data=lambda w: {
            "id_tag": w.card.id_tag,
            "label": "renamed",
            "kind": "own",
            "account": w.account.pk,
            "status": "active",
        },
    ),
    "card_status": Entry(
        kwargs=pk("card"), visible=CARD_SEERS, post=MANAGERS, post_data=lambda w: {"status": "blocked"}
    ),
    "access_group_list": Entry(get=FULL),
    "access_group_create": Entry(
        get=MANAGERS,
        post=MANAGERS,
        post_data=lambda w: {
            "account": w.account.pk,
            "name": "Matrix group",
            "terms": "free",
            "currency": "EUR",
        },
    ),
    "access_group_edit": Entry(
        kwargs=pk("access_group"),
        visible=COMMERCIAL,
        get=FULL,
        post=MANAGERS,
        post_data=lambda w: {
            "name": "Renamed group",
            "terms": "reduced",
            "price_per_kwh": "0.10",
            "currency": "EUR",
            "cards": [w.card.pk],
            "stations": [w.station.pk],
        },
    ),
    "access_group_delete": Entry(kwargs=pk("access_group"), visible=COMMERCIAL, post=MANAGERS),
    "access_group_import": Entry(
        kwargs=pk("access_group"), visible=COMMERCIAL, post=MANAGERS, post_files=_card_csv
    ),
    "location_list": Entry(get=FULL),
    "location_create": Entry(
        get=MANAGERS,
        post=MANAGERS,
        post_data=lambda w: {
            "account": w.account.pk,
            "name": "Matrix car park",
            "timezone": "Europe/Amsterdam",
        },
    ),
    "location_edit": Entry(
        kwargs=pk("location"),
        visible=COMMERCIAL,
        get=FULL,
        post=MANAGERS,
        post_data=lambda w: {"account": w.account.pk, "name": "Renamed", "timezone": "UTC"},
    ),
    "audit_list": Entry(get=MANAGERS),
    # --- stations (portal, H5) ------------------------------------------------------------------------
    "stations:home": Entry(get=EVERYONE, get_status=302),
    # Drivers get an empty list (they see no stations); the list itself is scoped, checked elsewhere.
    "stations:list": Entry(get=EVERYONE, htmx=True),
    "stations:detail": Entry(kwargs=pk("station"), visible=TECHNICAL, get=STATION_READERS),
    "stations:configuration": Entry(kwargs=pk("station"), visible=TECHNICAL, get=STATION_READERS, htmx=True),
    "stations:auto_configuration": Entry(kwargs=pk("station"), visible=TECHNICAL, post=STATION_MANAGERS),
    "stations:configuration_key": Entry(
        kwargs=pk("station"), visible=TECHNICAL, post=STATION_MANAGERS, post_data=lambda w: _failed_key(w)
    ),
    "stations:commissioning": Entry(
        kwargs=pk("station"),
        visible=TECHNICAL,
        get=STATION_READERS,
        htmx=True,
        post=STATION_MANAGERS,
        post_data=lambda w: {"connector_id": "1", "id_tag": "TESTCARD"},
    ),
    "stations:commissioning_report": Entry(
        kwargs=lambda w: {"pk": w.station.pk, "run_id": _commissioning_run(w).pk},
        visible=TECHNICAL,
        get=STATION_READERS,
    ),
    "stations:commissioning_report_pdf": Entry(
        kwargs=lambda w: {"pk": w.station.pk, "run_id": _commissioning_run(w).pk},
        visible=TECHNICAL,
        get=STATION_READERS,
    ),
    "stations:reset": Entry(
        kwargs=pk("station"), visible=TECHNICAL, post=STATION_MANAGERS, post_data=lambda w: {"kind": "Soft"}
    ),
    "stations:connectors": Entry(kwargs=pk("station"), visible=TECHNICAL, get=STATION_READERS),
    # Settings carry prices: technicians never see them (404, as if the page did not exist for them).
    "stations:settings": Entry(kwargs=pk("station"), visible=COMMERCIAL, get=FULL),
    "stations:commands": Entry(kwargs=pk("station"), visible=TECHNICAL, get=STATION_READERS, htmx=True),
    "stations:connection_attempts": Entry(get=OPERATORS, htmx=True),
    "stations:configuration_profiles": Entry(
        get=OPERATORS, post=OPERATORS, post_data=lambda w: {"vendor": "MatrixVendor", "ocpp_version": "1.6"}
    ),
    # The platform's profiles belong to no account: operator-only whatever the world (403, not 404).
    "stations:configuration_profile": Entry(
        kwargs=lambda w: {"pk": _default_profile(w).pk},
        visible=EVERYONE,
        get=OPERATORS,
        post=OPERATORS,
        post_data=lambda w: {"value-HeartbeatInterval": str(300 + w.account.pk)},
        foreign_status=403,
    ),
    # Scoped like the station list (each role sees its own stations that drifted).
    "stations:configuration_drift": Entry(get=EVERYONE),
    "stations:evse_ids": Entry(get=OPERATORS),
    "stations:evse_id_export": Entry(get=OPERATORS),
    # EVSE IDs are the platform's pool: operators only, for any account's IDs.
    "stations:evse_id_detail": Entry(
        kwargs=lambda w: {"evse_id": w.evse_id.evse_id},
        # The page refuses the role before looking the ID up: 403 for any ID, existing or not, own or foreign.
        visible=EVERYONE,
        get=OPERATORS,
        foreign_status=403,
    ),
    # --- charging sessions (H4) -----------------------------------------------------------------------
    # Lists are scoped (drivers: own cards; technicians: none), checked in tests/billing.
    "billing:session_list": Entry(get=EVERYONE, htmx=True),
    "billing:session_export": Entry(get=EVERYONE),
    "billing:session_detail": Entry(kwargs=pk("session"), visible=CARD_SEERS, get=CARD_READERS),
    # Remote start/stop involve cards and money: operators and the station account's admins.
    "billing:remote_panel": Entry(
        kwargs=pk("station"), visible=COMMERCIAL, get=MANAGERS, get_status=302, htmx_status=200, htmx=True
    ),
    "billing:remote_start": Entry(
        kwargs=pk("station"),
        visible=COMMERCIAL,
        post=MANAGERS,
        post_data=lambda w: {"id_tag": w.card.id_tag, "connector_id": 1},
        post_records=False,
    ),
    "billing:remote_stop": Entry(kwargs=pk("session"), visible=CARD_SEERS, post=MANAGERS, post_records=False),
    # Clearing a review flag makes a session billable: operators only.
    "billing:session_reviewed": Entry(kwargs=pk("session"), visible=CARD_SEERS, post=OPERATORS),
    # --- billing plans, card plans, self-billing (issue 11) -------------------------------------------
    # Plans are the platform's price list: operators only, refused before the plan is looked up.
    "billing:plan_list": Entry(get=OPERATORS),
    "billing:plan_create": Entry(
        get=OPERATORS,
        post=OPERATORS,
        post_data=lambda w: {
            "name": f"Matrix plan {w.account.pk}",
            "kind": "station",
            "currency": "eur",
            "price_per_period": "5.00",
        },
    ),
    "billing:plan_detail": Entry(
        kwargs=lambda w: {"pk": w.station.billing_plan_id},
        visible=EVERYONE,
        get=OPERATORS,
        post=OPERATORS,
        post_data=lambda w: {"form": "plan", "name": "Standard", "description": "renamed", "is_active": "on"},
        foreign_status=403,
    ),
    # A card's plan: the card's Account admins pick it (the account pays).
    "billing:card_plan": Entry(
        kwargs=pk("card"), visible=CARD_SEERS, get=MANAGERS, post=MANAGERS, post_data=lambda w: {"plan": ""}
    ),
    # The reimbursement IBAN and agreement: full roles see it, Account admins accept it.
    "billing:self_billing": Entry(
        kwargs=pk("account"),
        visible=ACCOUNT_MEMBERS,
        get=FULL,
        post=MANAGERS,
        post_data=lambda w: {
            "supplier_kind": "private",
            "legal_name": w.account.name,
            "address": "Damrak 1, Amsterdam",
            "country": "NL",
            "iban": "NL91 ABNA 0417 1643 00",
            "accept": "on",
        },
    ),
    # --- invoices (issue 11): the account's Account admins and Billing admins; technicians and drivers see
    # none (404, as for a foreign document). Crediting and runs are the operators'.
    "billing:invoice_list": Entry(get=FULL, htmx=True),
    "billing:invoice_detail": Entry(kwargs=pk("invoice"), visible=FULL, get=FULL),
    "billing:invoice_pdf": Entry(kwargs=pk("invoice"), visible=FULL, get=FULL),
    "billing:invoice_csv": Entry(kwargs=pk("invoice"), visible=FULL, get=FULL),
    "billing:invoice_credit": Entry(
        kwargs=pk("invoice"), visible=FULL, post=OPERATORS, post_data=lambda w: {"reason": "matrix"}
    ),
    "billing:run_list": Entry(
        get=OPERATORS, post=OPERATORS, post_data=lambda w: {"period": "2025-06", "issue": "on"}
    ),
    "billing:run_payout_csv": Entry(kwargs=pk("run"), visible=EVERYONE, get=OPERATORS, foreign_status=403),
}
