"""Periodic jobs, run by the one scheduler process: `python manage.py rqcron config.cron`."""

from rq import cron

from logistics.jobs import poll_due_parcels, sweep_waybill_cancels
from orders.jobs import (
    check_calendar_years,
    pull_due_channels,
    sweep_inbox_deliveries,
    sweep_notifications,
    sweep_outbox,
    sweep_overdue_orders,
    sweep_stalled_parcels,
    tick_allocation_queue,
)
from reports.jobs import (
    build_config_health_report,
    build_consistency_report,
    generate_yearly_reports,
    refresh_current_figures,
    refresh_daily_figures,
    refresh_settling_hours,
)

cron.register(sweep_overdue_orders, queue_name="default", interval=60)
cron.register(tick_allocation_queue, queue_name="default", interval=60)
cron.register(poll_due_parcels, queue_name="carriers", interval=300)
cron.register(sweep_stalled_parcels, queue_name="default", interval=600)
cron.register(sweep_waybill_cancels, queue_name="carriers", interval=600)
cron.register(sweep_outbox, queue_name="default", interval=60)
cron.register(sweep_inbox_deliveries, queue_name="channels", interval=60)
cron.register(pull_due_channels, queue_name="channels", interval=60)
cron.register(sweep_notifications, queue_name="notifications", interval=60)
cron.register(check_calendar_years, queue_name="default", interval=86400)
cron.register(refresh_daily_figures, queue_name="default", interval=600)
# 跨系统订单一致性日报: polled every 10 minutes, built once it is 10:00 Asia/Shanghai (reports.services.consistency).
cron.register(build_consistency_report, queue_name="default", interval=600)
# 01:30 Asia/Shanghai every day (rq's cron counts in UTC): on 1 January the past year's yearly reports; later days
# make only those a missed run left out.
cron.register(generate_yearly_reports, queue_name="default", cron="30 17 * * *", job_timeout=3600)
# 配置健康度报告: hourly, built when this month's is missing (the 1st, Asia/Shanghai).
cron.register(build_config_health_report, queue_name="default", interval=3600)
cron.register(refresh_current_figures, queue_name="default", interval=60)
cron.register(refresh_settling_hours, queue_name="default", interval=600)
