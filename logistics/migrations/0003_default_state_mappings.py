from django.db import migrations

from logistics.defaults import DEFAULT_STATE_MAPPINGS


def add_defaults(apps, schema_editor):
    mapping = apps.get_model("logistics", "CarrierStateMapping")
    for state, label, effect in DEFAULT_STATE_MAPPINGS:
        mapping.objects.get_or_create(carrier=None, carrier_state=state, defaults={"label": label, "effect": effect})


class Migration(migrations.Migration):
    dependencies = [("logistics", "0002_tracking_registry")]
    operations = [migrations.RunPython(add_defaults, migrations.RunPython.noop)]
