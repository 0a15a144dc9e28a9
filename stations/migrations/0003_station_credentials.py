from django.db import migrations, models


def existing_passwords_are_required(apps, schema_editor):
    # Before this migration a stored password was always demanded; keep it so for those stations.
    Station = apps.get_model("stations", "Station")
    Station.objects.exclude(password_hash="").update(password_required=True)


class Migration(migrations.Migration):
    dependencies = [
        ("stations", "0002_liveness_and_call_deadlines"),
    ]

    operations = [
        migrations.AddField(
            model_name="station",
            name="pending_password_hash",
            field=models.CharField(blank=True, max_length=256),
        ),
        migrations.AddField(
            model_name="station",
            name="password_required",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="station",
            name="last_refused_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="station",
            name="last_refusal_reason",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RunPython(existing_passwords_are_required, migrations.RunPython.noop),
    ]
