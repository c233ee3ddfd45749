"""Enqueue a job by its dotted name once the current transaction commits.

A service of one app uses this to hand work to another app's job without importing it (e.g. warehouse, which
must not import orders, asks for `orders.jobs.release_stock_holds`). If Redis is down the periodic jobs find
the work later, so a failed enqueue is logged, not raised."""

import logging
from datetime import timedelta

import django_rq
from django.db import transaction
from rq import Retry

logger = logging.getLogger(__name__)

# Every job is idempotent, so a failed or killed one is simply run again, a little later each time.
RETRY_INTERVALS = [10, 60, 300]
JOB_TIMEOUT_SECONDS = 300


def job_enqueue_on_commit(
    *, job: str, queue: str = "default", delay: timedelta | None = None, timeout: int | None = None, **kwargs
) -> None:
    """`delay`: run it that much later (RQ's scheduled registry), e.g. to space out calls to one provider.
    `timeout`: seconds the job may run (default JOB_TIMEOUT_SECONDS), e.g. a long import."""

    def enqueue() -> None:
        try:
            queue_ = django_rq.get_queue(queue)
            options = {
                "retry": Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
                "job_timeout": timeout or JOB_TIMEOUT_SECONDS,
                "kwargs": kwargs,
            }
            if delay:
                queue_.enqueue_in(delay, job, **options)
            else:
                queue_.enqueue(job, **options)
        except Exception:
            logger.exception("could not enqueue %s", job)

    transaction.on_commit(enqueue)
