from django.db import migrations


class Migration(migrations.Migration):
    # Placeholder kept so 0003 keeps its parent; the portal models are created in 0004.
    dependencies = [
        ("stations", "0001_initial"),
    ]

    operations = []
