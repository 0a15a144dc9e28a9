"""Where a station stands in the manual's setup order, and the one move to Activation pending.

The manual's order: Auto Configuration, Reset Device, Configure Connectors, then Settings/activation. A station
becomes "Activation pending" only when all of the first three are done, whichever was done last (connectors
saved after the reset, or the reset's boot after the connectors), so both callers use this one rule."""

from django.db import connection

from stations.models import Connector, Station, StationConfigurationKey, StationReset

EARLY_STATES = (Station.SetupState.NEEDS_CONFIGURATION, Station.SetupState.SETUP_IN_PROGRESS)


def setup_missing(station: Station) -> list[str]:
    """The steps before activation that are not done yet, in the manual's words ([] when ready)."""
    missing = []
    keys = list(StationConfigurationKey.objects.filter(station=station).values_list("state", flat=True))
    if not keys or any(state not in StationConfigurationKey.OK for state in keys):
        missing.append("Auto Configuration")
    reset = StationReset.objects.filter(station=station).first()
    if not (reset and station.last_boot_at and station.last_boot_at >= reset.requested_at):
        missing.append("Reset Device")  # sent, and the station booted again after it
    connectors = Connector.objects.filter(station=station, connector_id__gte=1)
    if (
        not connectors.exists()
        or connectors.filter(standard="").exists()
        or connectors.filter(evse=None).exists()
    ):
        missing.append("Configure Connectors")
    return missing


def station_setup_advance(*, station_pk: int) -> bool:
    """Activation pending once every step before it is done. True if the station moved.

    Runs after every boot, so the common answers are two plain statements (not compiled ORM queries: ~3 ms of
    CPU per boot of a new station, the costliest step of its first connect; docs/benchmarks.md): a station
    past the early states, or whose configuration keys are not all done yet, cannot move; only then is the
    whole rule (setup_missing) evaluated."""
    station_table = connection.ops.quote_name(Station._meta.db_table)
    key_table = connection.ops.quote_name(StationConfigurationKey._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {station_table} WHERE id = %s AND setup_state IN (%s, %s)",
            [station_pk, *EARLY_STATES],
        )
        if cursor.fetchone() is None:
            return False
        cursor.execute(f"SELECT state FROM {key_table} WHERE station_id = %s", [station_pk])
        states = [row[0] for row in cursor.fetchall()]
    if not states or any(state not in StationConfigurationKey.OK for state in states):
        return False  # "Auto Configuration" is missing, whatever else is
    station = Station.objects.filter(pk=station_pk, setup_state__in=EARLY_STATES).first()
    if station is None or setup_missing(station):
        return False
    return bool(
        Station.objects.filter(pk=station_pk, setup_state__in=EARLY_STATES).update(
            setup_state=Station.SetupState.ACTIVATION_PENDING
        )
    )
