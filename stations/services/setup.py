"""Where a station stands in the manual's setup order, and the one move to Activation pending.

The manual's order: Auto Configuration, Reset Device, Configure Connectors, then Settings/activation. A station
becomes "Activation pending" only when all of the first three are done, whichever was done last (connectors
saved after the reset, or the reset's boot after the connectors), so both callers use this one rule."""

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
    """Activation pending once every step before it is done. True if the station moved."""
    station = Station.objects.filter(pk=station_pk, setup_state__in=EARLY_STATES).first()
    if station is None or setup_missing(station):
        return False
    return bool(
        Station.objects.filter(pk=station_pk, setup_state__in=EARLY_STATES).update(
            setup_state=Station.SetupState.ACTIVATION_PENDING
        )
    )
