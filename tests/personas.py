"""Personas shared by every test file (healthchecks' hc/test.py style).

Loaded by tests/conftest.py through ``pytest_plugins``, so any test can ask for ``operator``,
``account_owner``, ``billing_admin``, ``fst``, ``driver``, ``foreign_user``, ``own_station``,
``foreign_station`` ... as fixtures. Every persona logs in with ``PASSWORD``.

Shape of the world:
- ``alice_account``: the customer. account_owner (Account admin), billing_admin, driver are its members.
  ``own_station`` belongs to it and is serviced by ``service_account``.
- ``service_account``: a service company; ``fst`` is its Field Service Technician.
- ``bob_account``: another customer; ``foreign_user`` is its Account admin; ``foreign_station`` is its station.
- ``operator``: platform operator (sees and manages everything, staff for the admin, not superuser).
"""

from functools import lru_cache

import pytest
from django.contrib.auth.hashers import make_password
from django.test import Client

PASSWORD = "Correct-Horse-Battery-42"


@lru_cache(maxsize=1)
def _password_hash() -> str:
    # Hash once per test process: PBKDF2 is slow on purpose, and a real server process still verifies it.
    return make_password(PASSWORD)


def make_user(username: str, **fields):
    from accounts.models import User

    fields.setdefault("email", f"{username}@example.test")
    return User.objects.create(username=username, password=_password_hash(), **fields)


def make_member(username: str, account, role: str, **fields):
    from accounts.models import Membership

    user = make_user(username, **fields)
    Membership.objects.create(user=user, account=account, role=role)
    return user


def make_station(ocpp_id: str, *, account=None, connectors=(1, 2), **fields):
    from stations.models import Connector, Station

    station = Station.objects.create(ocpp_id=ocpp_id, account=account, **fields)
    for cid in connectors:
        Connector.objects.create(station=station, connector_id=cid, status="Available")
    return station


# --- accounts -------------------------------------------------------------------------------------


@pytest.fixture
def alice_account(db):
    from accounts.models import Account

    return Account.objects.create(name="Alice Charging BV", billing_email="billing@alice.test")


@pytest.fixture
def bob_account(db):
    from accounts.models import Account

    return Account.objects.create(name="Bob Parking Ltd", billing_email="billing@bob.test")


@pytest.fixture
def service_account(db):
    from accounts.models import Account

    return Account.objects.create(name="Sparky Service Co", billing_email="office@sparky.test")


# --- people ---------------------------------------------------------------------------------------


@pytest.fixture
def operator(db):
    return make_user("operator", is_platform_operator=True, is_staff=True)


@pytest.fixture
def account_owner(alice_account):
    from accounts.models import Membership

    return make_member("alice", alice_account, Membership.Role.ACCOUNT_ADMIN)


@pytest.fixture
def billing_admin(alice_account):
    from accounts.models import Membership

    return make_member("bella", alice_account, Membership.Role.BILLING_ADMIN)


@pytest.fixture
def fst(service_account):
    from accounts.models import Membership

    return make_member("fred", service_account, Membership.Role.FIELD_SERVICE)


@pytest.fixture
def driver(alice_account):
    from accounts.models import Membership

    return make_member("dan", alice_account, Membership.Role.DRIVER)


@pytest.fixture
def foreign_user(bob_account):
    from accounts.models import Membership

    return make_member("bob", bob_account, Membership.Role.ACCOUNT_ADMIN)


@pytest.fixture
def personas(operator, account_owner, billing_admin, fst, driver, foreign_user):
    """All roles by name, for tests that loop over them."""
    return {
        "operator": operator,
        "account_owner": account_owner,
        "billing_admin": billing_admin,
        "fst": fst,
        "driver": driver,
        "foreign_user": foreign_user,
    }


# --- things they own ------------------------------------------------------------------------------


@pytest.fixture
def billing_plan(db):
    from billing.models import BillingPlan

    return BillingPlan.objects.create(name="Standard")


@pytest.fixture
def own_location(alice_account):
    from accounts.models import Location

    return Location.objects.create(account=alice_account, name="Alice HQ car park", country="NL")


@pytest.fixture
def foreign_location(bob_account):
    from accounts.models import Location

    return Location.objects.create(account=bob_account, name="Bob garage", country="GB")


@pytest.fixture
def own_station(alice_account, service_account, own_location, billing_plan):
    from decimal import Decimal

    from stations.models import Station

    return make_station(
        "ALICE-001",
        account=alice_account,
        field_service_account=service_account,
        location=own_location,
        billing_plan=billing_plan,
        setup_state=Station.SetupState.ACTIVE,
        vendor="Alfen",
        model="Eve Single",
        serial_number="ACE0001",
        price_per_kwh=Decimal("0.3500"),
    )


@pytest.fixture
def foreign_station(bob_account, foreign_location, billing_plan):
    from decimal import Decimal

    from stations.models import Station

    return make_station(
        "BOB-001",
        account=bob_account,
        location=foreign_location,
        billing_plan=billing_plan,
        setup_state=Station.SetupState.ACTIVE,
        vendor="Ecotap",
        model="EVC",
        serial_number="BOB0001",
        price_per_kwh=Decimal("0.4200"),
    )


@pytest.fixture
def pending_station(db):
    """Configured by the operator, waiting for its customer to activate it (no account yet)."""
    from stations.models import Station

    return make_station(
        "PENDING-001",
        setup_state=Station.SetupState.ACTIVATION_PENDING,
        vendor="Alfen",
        model="Eve Double",
        serial_number="PEND0001",
    )


@pytest.fixture
def own_card(alice_account, driver):
    from accounts.models import ChargeCard

    return ChargeCard.objects.create(
        id_tag="ALICE0001", label="Dan's card", account=alice_account, holder=driver
    )


@pytest.fixture
def foreign_card(bob_account, foreign_user):
    from accounts.models import ChargeCard

    return ChargeCard.objects.create(
        id_tag="BOB0001", label="Bob's card", account=bob_account, holder=foreign_user
    )


@pytest.fixture
def own_access_group(alice_account, own_station, own_card):
    from accounts.models import AccessGroup

    group = AccessGroup.objects.create(account=alice_account, name="Alice staff")
    group.stations.add(own_station)
    group.cards.add(own_card)
    return group


@pytest.fixture
def foreign_access_group(bob_account, foreign_station, foreign_card):
    from accounts.models import AccessGroup

    group = AccessGroup.objects.create(account=bob_account, name="Bob tenants")
    group.stations.add(foreign_station)
    group.cards.add(foreign_card)
    return group


# --- clients --------------------------------------------------------------------------------------


@pytest.fixture
def client_for(db):
    """client_for(user) -> a Django test Client logged in as that user."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return make
