"""OCPP 2.0.1 device model inventory (NotifyReport, part 2 B06-B08) and event stream (NotifyEvent, N07).
Defined apart from stations/models.py (which imports them) to keep that file readable; referenced by string,
so this module imports nothing from it."""

from django.db import models
from django.utils import timezone


class DeviceVariable(models.Model):
    """One variable of one component of a 2.0.1 station's device model, as its last report gave it: the Actual
    value and its characteristics. Upserted per (component, instance, EVSE, connector, variable, instance)."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="device_variables")
    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse_number = models.IntegerField(default=-1)  # -1: the component is not on an EVSE
    evse_connector = models.IntegerField(default=-1)
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    value = models.CharField(max_length=2500, blank=True)  # Actual attribute (attributeValue is string[2500])
    mutability = models.CharField(max_length=16, blank=True)  # ReadOnly / WriteOnly / ReadWrite
    data_type = models.CharField(max_length=16, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    values_list = models.CharField(max_length=1000, blank=True)
    request_id = models.IntegerField(null=True, blank=True)  # the GetBaseReport/GetReport it answered
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["station", "component", "variable", "id"]
        constraints = [
            # NotifyReport upserts by the full component/variable address.
            models.UniqueConstraint(
                fields=[
                    "station",
                    "component",
                    "component_instance",
                    "evse_number",
                    "evse_connector",
                    "variable",
                    "variable_instance",
                ],
                name="devicevariable_unique_address",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.component}.{self.variable}={self.value}"

    @property
    def readonly(self) -> bool:
        return self.mutability == "ReadOnly"


class StationEvent(models.Model):
    """One eventData of a NotifyEvent (part 2 N07): stored as reported, newest first on the station page."""

    station = models.ForeignKey("stations.Station", on_delete=models.CASCADE, related_name="events")
    event_id = models.IntegerField()
    timestamp = models.DateTimeField()  # station clock
    trigger = models.CharField(max_length=16)  # Alerting / Delta / Periodic
    component = models.CharField(max_length=50)
    evse_number = models.IntegerField(null=True, blank=True)
    evse_connector = models.IntegerField(null=True, blank=True)
    variable = models.CharField(max_length=50)
    actual_value = models.CharField(max_length=2500, blank=True)
    cleared = models.BooleanField(default=False)
    tech_code = models.CharField(max_length=50, blank=True)
    tech_info = models.CharField(max_length=500, blank=True)
    event_notification_type = models.CharField(max_length=32, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            # A NotifyEvent sent again (its answer was lost) stores nothing twice.
            models.UniqueConstraint(
                fields=["station", "event_id", "timestamp"], name="stationevent_unique_event"
            ),
        ]
        indexes = [
            # Station page: the newest events of one station.
            models.Index(fields=["station", "-timestamp"], name="stationevent_station_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.component}.{self.variable}={self.actual_value}"
