# The sessions list's order as an index (bench/portal_lists.py: without it every page sorted all sessions).
# A plain CREATE INDEX: it holds writes to the sessions table while it builds (about a second per 100,000
# sessions here); CONCURRENTLY would not run on the embedded SQLite default.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_ocpp201_transaction_events"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="chargingsession",
            # Sessions list and CSV export: ORDER BY started_at DESC, id DESC LIMIT 50 reads only the page.
            index=models.Index(fields=["-started_at", "-id"], name="session_started_id_idx"),
        ),
    ]
