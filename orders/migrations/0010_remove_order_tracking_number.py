"""The order's tracking number lives in the parcel registry (logistics.Shipment) only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("orders", "0009_tracking_number_into_registry")]

    operations = [
        migrations.RemoveField(model_name="historicalorder", name="tracking_number"),
        migrations.RemoveField(model_name="order", name="tracking_number"),
    ]
