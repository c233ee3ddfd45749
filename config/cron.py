"""Periodic jobs, run by the one scheduler process: `python manage.py rqcron config.cron`."""

from rq import cron

from orders.jobs import sweep_overdue_orders, tick_allocation_queue

cron.register(sweep_overdue_orders, queue_name="default", interval=60)
cron.register(tick_allocation_queue, queue_name="default", interval=60)
