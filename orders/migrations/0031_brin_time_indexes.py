"""Block-range (BRIN) indexes on the times the daily reports select a day by: timeline events by created_at and
orders by paid_at. Both are written in roughly time order, so a BRIN index of a few pages lets a day's refresh skip
the rest of millions of rows, and costs the sweep's and intake's inserts next to nothing (a B-tree on created_at
was removed from the sweep's path for its write cost). PostgreSQL only: SQLite has no BRIN and the demo is small."""

from django.db import migrations

INDEXES = [
    ("orderevent_created_brin", "orders_orderevent", "created_at"),
    ("order_paid_at_brin", "orders_order", "paid_at"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING brin ({column})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("orders", "0030_order_import_job")]

    operations = [migrations.RunPython(create, drop)]
