"""Order.tracking_number leaves the order: every number it holds is registered in the parcel registry
(logistics.Shipment) here; the next migration drops the column (its own transaction: PostgreSQL refuses to
alter a table with pending deferred-constraint checks).

An order with a number but no carrier keeps its number under a placeholder carrier, 未知快递 (code `unknown`,
manual adapter, inactive so nobody picks it for new parcels): the number stays searchable, scannable and shown,
and customer service can re-register it under the right carrier."""

from django.db import migrations

UNKNOWN_CARRIER = "unknown"


def _clean(number: str) -> str:
    return "".join(number.split()).upper()[:32]


def numbers_into_registry(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Carrier = apps.get_model("logistics", "Carrier")
    Shipment = apps.get_model("logistics", "Shipment")
    unknown = None
    numbered = Order.objects.exclude(tracking_number="").order_by("pk")
    for order in numbered.only("pk", "channel_id", "carrier_id", "tracking_number").iterator():
        number = _clean(order.tracking_number)
        if not number or Shipment.objects.filter(order_id=order.pk, tracking_number=number).exists():
            continue
        carrier_id = order.carrier_id
        if carrier_id is None or Shipment.objects.filter(carrier_id=carrier_id, tracking_number=number).exists():
            if unknown is None:
                unknown, _ = Carrier.objects.get_or_create(
                    code=UNKNOWN_CARRIER, defaults={"name": "未知快递", "adapter": "manual", "is_active": False}
                )
            carrier_id = unknown.pk
            if Shipment.objects.filter(carrier_id=carrier_id, tracking_number=number).exists():
                continue  # the same carrier-less number on two orders: the first one keeps it
        Shipment.objects.create(
            order_id=order.pk, channel_id=order.channel_id, carrier_id=carrier_id, tracking_number=number, source="import"
        )


def numbers_back_onto_orders(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Shipment = apps.get_model("logistics", "Shipment")
    primary = Shipment.objects.filter(is_active=True).order_by("order_id", "parcel_index", "-created_at", "-id")
    seen = set()
    for order_id, number in primary.values_list("order_id", "tracking_number").iterator():
        if order_id not in seen:
            seen.add(order_id)
            Order.objects.filter(pk=order_id).update(tracking_number=number)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0008_order_platform_ship_by"),
        ("logistics", "0006_parcel_registry_waybill_fields"),
    ]

    operations = [
        migrations.RunPython(numbers_into_registry, numbers_back_onto_orders),
    ]
