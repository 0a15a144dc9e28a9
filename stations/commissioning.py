"""CommissioningRun: the installer's end-to-end test of one connector and its stored report.

A model module of its own (stations/models.py is long), naming its relations by string; stations.models
imports it so Django registers it. The steps are run by stations.services.commissioning."""

from django.db import models
from django.utils import timezone


class CommissioningRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="commissioning_runs"
    )
    connector_id = models.PositiveIntegerField()
    id_tag = models.CharField("test card", max_length=20)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # [{"label": ..., "state": "done" | "busy" | "failed", "detail": ...}] in the order run: the report.
    steps = models.JSONField(default=list)
    reason = models.CharField(max_length=300, blank=True)  # why it failed, in the installer's words
    energy_wh = models.BigIntegerField(null=True, blank=True)  # what the meter rose by during the test
    session = models.ForeignKey(
        "billing.ChargingSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        "accounts.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # The station's Commissioning tab: its runs, newest first.
            models.Index(fields=["station", "-started_at"], name="commissioning_station_idx"),
        ]

    def __str__(self) -> str:
        return f"Commissioning of {self.station_id} connector {self.connector_id}: {self.status}"
