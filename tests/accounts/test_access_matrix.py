"""The access matrix : every URL pattern × every role × own and foreign object.

Generated from the URL resolver, so a new view is covered the moment it is routed; how to call it and who
may do what lives in access_matrix_registry.py. A pattern without an entry fails here with the message
telling where to add it."""

from types import SimpleNamespace

import pytest
from django.apps import apps
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.models import AuditEvent, Membership
from tests.personas import make_member, make_station, make_user

from .access_matrix_registry import OPERATOR, REGISTRY

# Not portal views: the admin has its own scoped tests (test_admin.py); login/logout/reset are public by design
# and tested in test_login_safety.py.
EXCLUDED_PREFIXES = ("admin", "static", "media", "__debug__")
EXCLUDED_NAMES = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}

# persona fixture -> (role in the matrix, the world whose objects are its own)
PERSONAS = {
    "operator": (OPERATOR, "alice"),
    "account_owner": ("account_admin", "alice"),
    "billing_admin": ("billing_admin", "alice"),
    "fst": ("fst", "alice"),
    "driver": ("driver", "alice"),
    "foreign_user": ("account_admin", "bob"),
}


def _walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace if p.namespace else namespace
            if ns and namespace and p.namespace:
                ns = f"{namespace}:{p.namespace}"
            yield from _walk(p.url_patterns, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            yield name, route, bool(p.pattern.converters) or bool(p.pattern.regex.groupindex)


def url_patterns():
    """(name, route, has_params) of every portal URL pattern."""
    out = {}
    for name, route, has_params in _walk(get_resolver().url_patterns):
        if route.lstrip("^/").startswith(EXCLUDED_PREFIXES) or name in EXCLUDED_NAMES:
            continue
        key = name or f"<unnamed {route}>"
        out.setdefault(key, (route, has_params))
    return out


PATTERNS = url_patterns()


def _cases():
    for name, (_route, has_params) in sorted(PATTERNS.items()):
        variants = ("own", "foreign") if has_params else ("none",)
        for persona in PERSONAS:
            for variant in variants:
                yield pytest.param(name, persona, variant, id=f"{name}-{persona}-{variant}")


def test_every_url_pattern_has_a_registry_entry():
    missing = [f"{name} ({route})" for name, (route, _) in PATTERNS.items() if name not in REGISTRY]
    assert not missing, (
        "URL patterns the access matrix does not know how to call: "
        + ", ".join(missing)
        + ". Add an Entry for each to tests/accounts/access_matrix_registry.py (kwargs, roles for GET/POST)."
    )


def test_registry_has_no_stale_entries():
    stale = sorted(set(REGISTRY) - set(PATTERNS))
    assert not stale, f"Registry entries for URL names that no longer exist: {stale}"


# --- the two worlds -------------------------------------------------------------------------------


def _world(tag, account, station, card, group, location, membership):
    w = SimpleNamespace(
        account=account,
        station=station,
        card=card,
        access_group=group,
        location=location,
        membership=membership,
    )
    w.connector = station.connectors.get(connector_id=1)
    w.outsider = make_user(f"outsider_{tag}")
    w.pending_station = make_station(
        f"PENDING-{tag.upper()}", setup_state="activation_pending", serial_number=f"PEND-{tag.upper()}"
    )
    try:
        EvseId = apps.get_model("stations", "EvseId")
    except LookupError:
        w.evse_id = None
    else:
        seq = 100 + station.pk
        w.evse_id = EvseId.objects.create(
            evse_id=f"NL*EFL*E{seq:06d}",
            country_code="NL",
            operator_id="EFL",
            sequence=seq,
            connector=w.connector,
            status="assigned",
        )
    try:
        ChargingSession = apps.get_model("billing", "ChargingSession")
    except LookupError:
        w.session = None
    else:
        w.session = ChargingSession.objects.create(
            station=station,
            connector_id=1,
            card=card,
            id_tag=card.id_tag,
            account=account,
            status="completed",
        )
    _billing_documents(w, tag)
    return w


def _billing_documents(w, tag):
    from datetime import date
    from decimal import Decimal

    from billing.models import BillingRun, Invoice, InvoiceLine

    w.run = BillingRun.objects.create(period="2025-01" if tag == "alice" else "2025-02", status="issued")
    w.invoice = Invoice.objects.create(
        kind="usage",
        account=w.account,
        run=w.run,
        currency="EUR",
        period=w.run.period,
        period_start=date(2025, 1, 1),
        period_end=date(2025, 2, 1),
    )
    InvoiceLine.objects.create(
        invoice=w.invoice,
        position=1,
        kind="plan_period",
        description="Plan fee",
        quantity=Decimal(1),
        unit="month",
        unit_price=Decimal("5"),
        amount=Decimal("5.00"),
        vat_rate=Decimal("21"),
    )
    Invoice.objects.filter(pk=w.invoice.pk).update(
        status="issued",
        series=f"INV-M{tag}",
        number=1,
        number_text=f"INV-M{tag}-000001",
        issue_date=date(2025, 2, 1),
        subtotal=Decimal("5.00"),
        vat_total=Decimal("1.05"),
        total=Decimal("6.05"),
        vat_breakdown=[{"rate": "21.00", "base": "5.00", "vat": "1.05"}],
        buyer={"name": w.account.name},
        seller={"name": "eflux B.V."},
    )
    w.invoice.refresh_from_db()


@pytest.fixture
def worlds(
    personas,
    alice_account,
    bob_account,
    own_station,
    foreign_station,
    own_card,
    foreign_card,
    own_access_group,
    foreign_access_group,
    own_location,
    foreign_location,
):
    driver_membership = Membership.objects.get(user=personas["driver"], account=alice_account)
    bob_driver = make_member("bob_driver", bob_account, Membership.Role.DRIVER)
    bob_membership = Membership.objects.get(user=bob_driver, account=bob_account)
    return {
        "alice": _world(
            "alice", alice_account, own_station, own_card, own_access_group, own_location, driver_membership
        ),
        "bob": _world(
            "bob",
            bob_account,
            foreign_station,
            foreign_card,
            foreign_access_group,
            foreign_location,
            bob_membership,
        ),
    }


def _counts():
    OcppCall = apps.get_model("stations", "OcppCall")
    return OcppCall.objects.count(), AuditEvent.objects.count()


# --- the matrix -----------------------------------------------------------------------------------


def _refused(entry, role) -> int:
    """accounts/access.py: an object hidden from the role is 404; one it sees (or a page without one) 403."""
    return 403 if entry.visible is None or role in entry.visible else 404


@pytest.mark.parametrize("name,persona,variant", list(_cases()))
def test_access_matrix(name, persona, variant, personas, worlds, client_for):
    entry = REGISTRY.get(name)
    route, _ = PATTERNS[name]
    if entry is None:
        pytest.fail(
            f"URL pattern {name!r} ({route}) has no entry in tests/accounts/access_matrix_registry.py: "
            "add how to build its kwargs from a World and which roles may GET/POST it."
        )
    role, home = PERSONAS[persona]
    other = "bob" if home == "alice" else "alice"
    world = worlds[other if variant == "foreign" else home]
    if variant != "none" and entry.kwargs is None:
        pytest.fail(f"{name!r} ({route}) takes parameters but its registry entry has no kwargs builder.")
    if entry.kwargs is not None and entry.visible is None:
        pytest.fail(f"{name!r} ({route}) takes an object but its registry entry does not say who sees it.")
    url = reverse(name, kwargs=entry.kwargs(world) if entry.kwargs else None)
    foreign = variant == "foreign" and role != OPERATOR
    client = client_for(personas[persona])
    where = f"{persona} ({role}) {variant} {url}"

    # GET (and its htmx partial).
    allowed = False
    if not entry.get:
        expected = 405  # a POST-only view: GET is not a way in for anyone
    elif foreign:
        expected = entry.foreign_status
    elif role in entry.get:
        expected, allowed = entry.get_status, True
    else:
        expected = _refused(entry, role)
    response = client.get(url + entry.query)
    assert response.status_code == expected, f"GET {where}: {response.status_code}, expected {expected}"
    if entry.htmx:
        hx_expected = entry.htmx_status if allowed and entry.htmx_status is not None else expected
        hx = client.get(url + entry.query, HTTP_HX_REQUEST="true")
        assert hx.status_code == hx_expected, f"htmx GET {where}: {hx.status_code}, expected {hx_expected}"
        if allowed and hx.status_code == 200:
            assert b"<html" not in hx.content[:500].lower(), (
                f"htmx GET {where} returned a full page, not a partial"
            )

    # POST.
    if entry.post is None:
        return
    data = entry.post_data(world) if entry.post_data else {}
    if entry.post_files:
        data.update(entry.post_files(world))
    before = _counts()
    response = client.post(url, data)
    if foreign or role not in entry.post:
        expected = entry.foreign_status if foreign else _refused(entry, role)
        assert response.status_code == expected, f"POST {where}: {response.status_code}, expected {expected}"
        # A refused request changes nothing and sends nothing to the station.
        assert _counts() == before, f"POST {where} was refused but queued a call or recorded a change"
    else:
        assert response.status_code == entry.post_status, (
            f"POST {where}: {response.status_code}, expected {entry.post_status}; "
            f"body: {response.content[:1500]!r}"
        )
        if entry.post_records:
            assert _counts() != before, (
                f"POST {where} answered {response.status_code} but nothing was recorded"
            )


@pytest.mark.parametrize("name", sorted(n for n in PATTERNS if n in REGISTRY and not REGISTRY[n].public))
def test_anonymous_is_sent_to_login(name, worlds, client):
    entry = REGISTRY[name]
    url = reverse(name, kwargs=entry.kwargs(worlds["alice"]) if entry.kwargs else None)
    # The home page only redirects to the station list, which sends an anonymous visitor on to the login.
    target = reverse("stations:list") if name == "stations:home" else reverse("login")
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        assert response.status_code == 302, f"anonymous {method.upper()} {url}: {response.status_code}"
        assert response["Location"].startswith(target), f"anonymous {url} → {response['Location']}"


def test_an_unknown_url_pattern_fails_the_matrix_with_a_clear_message(monkeypatch):
    monkeypatch.setitem(PATTERNS, "someapp:new_view", ("things/<int:pk>/", True))
    with pytest.raises(
        AssertionError, match=r"someapp:new_view \(things/<int:pk>/\).*access_matrix_registry\.py"
    ):
        test_every_url_pattern_has_a_registry_entry()
