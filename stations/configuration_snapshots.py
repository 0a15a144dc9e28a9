"""ConfigurationSnapshot: the station's whole configuration as read at one moment (after a boot, daily), so the
Configuration tab can show what changed between two reads and the fleet view which stations drifted.

A model module of its own (stations/models.py is long); stations.models imports it so Django registers it."""

from django.db import models
from django.utils import timezone


class ConfigurationSnapshot(models.Model):
    class Trigger(models.TextChoices):
        BOOT = "boot", "after a boot"
        DAILY = "daily", "daily read"

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, related_name="configuration_snapshots"
    )
    taken_at = models.DateTimeField(default=timezone.now)
    trigger = models.CharField(max_length=8, choices=Trigger.choices)
    # {key: value} as GetConfiguration.conf reported it; write-only keys (AuthorizationKey) are never kept.
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [
            # The station's history (newest first) and pruning it to its newest N.
            models.Index(fields=["station", "-taken_at"], name="configsnapshot_station_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.station_id} configuration {self.taken_at:%Y-%m-%d %H:%M}"


def snapshot_diff(older: dict, newer: dict) -> list[tuple[str, str | None, str | None]]:
    """(key, before, after) for every key whose value differs between two reads, by key name."""
    keys = sorted(set(older) | set(newer), key=str.lower)
    return [(k, older.get(k), newer.get(k)) for k in keys if older.get(k) != newer.get(k)]
