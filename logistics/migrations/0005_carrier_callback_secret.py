"""Every carrier with a push adapter gets a callback secret, then the database refuses one without.

Before this, a Kuaidi100 carrier saved without a salt accepted unsigned pushes from anyone. Carriers that had
none get a random one here: Kuaidi100 receives it with each new subscription (parcels subscribed earlier push
unsigned and are refused; polling still follows them). A generic carrier without a secret refused every push
already; an administrator sets the secret its sender uses.
"""

import secrets

from django.db import migrations, models


def fill_missing_secrets(apps, schema_editor):
    Carrier = apps.get_model("logistics", "Carrier")
    for carrier in Carrier.objects.exclude(adapter="manual").filter(callback_secret=""):
        carrier.callback_secret = secrets.token_urlsafe(24)
        carrier.save(update_fields=["callback_secret"])


class Migration(migrations.Migration):
    dependencies = [
        ("logistics", "0004_carrier_transit_days"),
    ]

    operations = [
        migrations.RunPython(fill_missing_secrets, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="carrier",
            constraint=models.CheckConstraint(
                condition=models.Q(("adapter", "manual"), models.Q(("callback_secret", ""), _negated=True), _connector="OR"),
                name="carrier_push_adapter_has_secret",
                violation_error_message="A carrier with a push adapter needs a callback secret.",
            ),
        ),
    ]
