"""Configure Connectors: one form per reported connector, derived power, rules explained at the field,
EVSE ID autopick on save, station moves to Activation pending."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from stations.forms import ConnectorForm
from stations.models import Connector, EvseId, Station, StationConfigurationKey, StationReset
from stations.services import connectors, evse_ids
from stations.services.messages import station_after_boot
from tests.personas import make_station


@pytest.fixture
def new_station(db):
    return make_station("NEW-001", connectors=(0, 1, 2), setup_state=Station.SetupState.SETUP_IN_PROGRESS)


@pytest.fixture
def pool(operator):
    return evse_ids.evse_id_batch_create(country_code="NL", operator_id="EFL", count=5, acting_user=operator)


def post_data(**per_connector):
    data = {}
    for cid, values in per_connector.items():
        for k, v in values.items():
            data[f"{cid}-{k}"] = v
    return data


GOOD = {
    "standard": "type2",
    "format": "socket",
    "power_type": "ac_3_phase",
    "max_voltage": "400",
    "max_amperage": "32",
}


@pytest.mark.parametrize(
    "power_type,volts,amps,watts",
    [
        ("ac_1_phase", 230, 32, 7360),
        ("ac_3_phase", 400, 32, 22170),  # √3 × 400 × 32 = 22170.5 → 22170 (line-to-line voltage)
        ("ac_3_phase", 400, 16, 11085),
        ("dc", 500, 125, 62500),
        ("dc", None, 125, None),
    ],
)
def test_max_power_is_derived(power_type, volts, amps, watts):
    result = connectors.max_power_watts(power_type, volts, amps)
    if watts is None:
        assert result is None
    else:
        assert result == pytest.approx(watts, abs=1)


@pytest.mark.parametrize(
    "values,field,message",
    [
        (
            {"standard": "ccs2", "format": "cable", "power_type": "ac_3_phase"},
            "power_type",
            "CCS2 (Combo 2) is DC only",
        ),
        ({"standard": "chademo", "format": "cable", "power_type": "ac_1_phase"}, "power_type", "DC only"),
        (
            {"standard": "type2", "format": "socket", "power_type": "dc"},
            "format",
            "DC chargers always have a fixed cable",
        ),
        (
            {
                "standard": "ccs2",
                "format": "socket",
                "power_type": "dc",
                "max_voltage": "500",
                "max_amperage": "200",
            },
            "format",
            "cable only",
        ),
        (
            {"standard": "domestic_f", "format": "socket", "power_type": "ac_3_phase"},
            "power_type",
            "AC 1-phase only",
        ),
        (
            {
                "standard": "domestic_f",
                "format": "cable",
                "power_type": "ac_1_phase",
                "max_voltage": "230",
                "max_amperage": "16",
            },
            "format",
            "socket only",
        ),
        (
            {
                "standard": "domestic_f",
                "format": "socket",
                "power_type": "ac_1_phase",
                "max_voltage": "230",
                "max_amperage": "32",
            },
            "max_amperage",
            "6–16 A",
        ),
        (
            {
                "standard": "type1",
                "format": "socket",
                "power_type": "ac_1_phase",
                "max_voltage": "230",
                "max_amperage": "32",
            },
            "format",
            "cable only",
        ),
        ({"max_voltage": "230"}, "max_voltage", "line-to-line"),  # 3-phase with a phase voltage
        ({"power_type": "ac_1_phase", "max_voltage": "400"}, "max_voltage", "100–250 V"),
        ({"max_amperage": "3"}, "max_amperage", "6–63 A"),
        ({"max_amperage": ""}, "max_amperage", "required"),
    ],
)
def test_invalid_combinations_are_explained_at_the_field(new_station, values, field, message):
    connector = new_station.connectors.get(connector_id=1)
    form = ConnectorForm(post_data(c1={**GOOD, **values}), connector=connector)
    assert not form.is_valid()
    assert any(message in e for e in form.errors[field]), form.errors


def test_page_has_one_form_per_reported_connector(client_for, operator, new_station, pool):
    body = client_for(operator).get(reverse("stations:connectors", args=[new_station.pk])).content.decode()
    assert 'id="c1-card"' in body and 'id="c2-card"' in body and 'id="c0-card"' not in body
    assert "NL*EFL*E000001" in body  # the autopick preview


def configured_and_reset(station, *, booted_after_reset=True):
    """Auto Configuration done and a Reset Device the station came back from (the steps before connectors)."""
    StationConfigurationKey.objects.create(
        station=station,
        key="HeartbeatInterval",
        desired_value="300",
        state=StationConfigurationKey.State.ACCEPTED,
    )
    reset = StationReset.objects.create(station=station, kind=StationReset.Kind.SOFT)
    if booted_after_reset:
        Station.objects.filter(pk=station.pk).update(last_boot_at=reset.requested_at + timedelta(seconds=30))
    station.refresh_from_db()


def test_connectors_alone_do_not_make_a_station_activation_pending(client_for, operator, new_station, pool):
    configured_and_reset(new_station, booted_after_reset=False)  # reset sent, the station not back yet
    response = client_for(operator).post(
        reverse("stations:connectors", args=[new_station.pk]), post_data(c1=GOOD, c2=GOOD), follow=True
    )
    new_station.refresh_from_db()
    assert new_station.setup_state == Station.SetupState.SETUP_IN_PROGRESS
    assert "Still to do before activation: Reset Device." in response.content.decode()
    # The reset's boot is then the last step: the same rule moves it on.
    Station.objects.filter(pk=new_station.pk).update(last_boot_at=timezone.now() + timedelta(seconds=1))
    station_after_boot(new_station.pk)
    new_station.refresh_from_db()
    assert new_station.setup_state == Station.SetupState.ACTIVATION_PENDING


def test_save_autopicks_evse_ids_and_moves_to_activation_pending(client_for, operator, new_station, pool):
    configured_and_reset(new_station)
    response = client_for(operator).post(
        reverse("stations:connectors", args=[new_station.pk]),
        post_data(c1=GOOD, c2={**GOOD, "format": "cable"}),
    )
    assert response.status_code == 302
    new_station.refresh_from_db()
    assert new_station.setup_state == Station.SetupState.ACTIVATION_PENDING
    c1, c2 = Connector.objects.filter(station=new_station, connector_id__gte=1).order_by("connector_id")
    assert (c1.standard, c1.format, c1.power_type, c1.max_voltage, c1.max_amperage) == (
        "type2",
        "socket",
        "ac_3_phase",
        400,
        32,
    )
    assert c2.format == "cable"
    assert c1.evse.evse_id == "NL*EFL*E000001" and c2.evse.evse_id == "NL*EFL*E000002"
    assert EvseId.objects.filter(status=EvseId.Status.AVAILABLE).count() == 3
    event = new_station.audit_events.get(action="station.connectors")
    assert event.actor == operator and event.changes["1"]["evse_id"] == "NL*EFL*E000001"


def test_saving_again_keeps_the_assigned_evse_id(client_for, operator, new_station, pool):
    client = client_for(operator)
    url = reverse("stations:connectors", args=[new_station.pk])
    client.post(url, post_data(c1=GOOD, c2=GOOD))
    client.post(url, post_data(c1={**GOOD, "max_amperage": "16"}, c2=GOOD))
    assert new_station.connectors.get(connector_id=1).evse.evse_id == "NL*EFL*E000001"
    assert EvseId.objects.filter(status=EvseId.Status.ASSIGNED).count() == 2


def test_errors_are_rendered_next_to_the_field(client_for, operator, new_station, pool):
    response = client_for(operator).post(
        reverse("stations:connectors", args=[new_station.pk]),
        post_data(c1={**GOOD, "standard": "ccs2"}, c2=GOOD),
    )
    body = response.content.decode()
    assert response.status_code == 200
    field = body[body.index('id="field-c1-power_type"') :]
    field = field[: field.index("</div>\n</div>") if "</div>\n</div>" in field else 600]
    assert 'class="error"' in field and "DC only" in field
    new_station.refresh_from_db()
    assert new_station.setup_state == Station.SetupState.SETUP_IN_PROGRESS  # nothing saved


def test_empty_pool_is_explained_and_nothing_is_saved(client_for, operator, new_station):
    response = client_for(operator).post(
        reverse("stations:connectors", args=[new_station.pk]), post_data(c1=GOOD, c2=GOOD)
    )
    assert response.status_code == 200
    assert "Not enough EVSE IDs available for autopick" in response.content.decode()
    assert new_station.connectors.get(connector_id=1).standard == ""


def test_htmx_validation_returns_one_form_with_errors_and_power(client_for, operator, new_station, pool):
    response = client_for(operator).post(
        reverse("stations:connectors", args=[new_station.pk]),
        {**post_data(c1={**GOOD, "max_amperage": "16"}, c2={**GOOD, "standard": "ccs2"}), "validate": "c1"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    # Only the feedback regions, out of band: never an input the operator may be typing in.
    assert "<input" not in body and "<select" not in body and "<html" not in body
    assert 'id="c1-power" hx-swap-oob="true"' in body and "c2-" not in body
    assert "11.1 kW" in body  # √3 × 400 V × 16 A


def test_htmx_validation_does_not_flag_fields_not_reached_yet(client_for, operator, new_station, pool):
    response = client_for(operator).post(
        reverse("stations:connectors", args=[new_station.pk]),
        {**post_data(c1={**GOOD, "max_voltage": "400", "max_amperage": ""}), "validate": "c1"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "required" not in body
    assert 'id="errors-c1-max_amperage" hx-swap-oob="true"></div>' in body


def test_technician_may_configure_serviced_station(client_for, fst, own_station, pool):
    response = client_for(fst).post(
        reverse("stations:connectors", args=[own_station.pk]), post_data(c1=GOOD, c2=GOOD)
    )
    assert response.status_code == 302


def test_billing_admin_may_not_save_connectors(client_for, billing_admin, own_station, pool):
    response = client_for(billing_admin).post(
        reverse("stations:connectors", args=[own_station.pk]), post_data(c1=GOOD, c2=GOOD)
    )
    assert response.status_code == 403


def test_foreign_connectors_are_404(client_for, account_owner, foreign_station):
    assert (
        client_for(account_owner).get(reverse("stations:connectors", args=[foreign_station.pk])).status_code
        == 404
    )
