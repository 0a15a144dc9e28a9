from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stations", "0003_station_credentials"),
    ]

    operations = [
        migrations.AddField(
            model_name="configurationjob",
            name="runner",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.AddField(
            model_name="configurationjob",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="configurationjob",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="configurationjob",
            name="interruptions",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name="configurationjob",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "running", "waiting"])),
                fields=["status", "heartbeat_at"],
                name="configjob_active_idx",
            ),
        ),
    ]
