"""Enqueue a job by its dotted name once the current transaction commits.

A service of one app uses this to hand work to another app's job without importing it (e.g. warehouse, which
must not import orders, asks for `orders.jobs.release_stock_holds`). If Redis is down the periodic jobs find
the work later, so a failed enqueue is logged, not raised."""

import logging
from datetime import timedelta

import django_rq
from django.db import transaction

logger = logging.getLogger(__name__)


def job_enqueue_on_commit(*, job: str, queue: str = "default", delay: timedelta | None = None, **kwargs) -> None:
    """`delay`: run it that much later (RQ's scheduled registry), e.g. to space out calls to one provider."""

    def enqueue() -> None:
        try:
            if delay:
                django_rq.get_queue(queue).enqueue_in(delay, job, **kwargs)
            else:
                django_rq.get_queue(queue).enqueue(job, **kwargs)
        except Exception:
            logger.exception("could not enqueue %s", job)

    transaction.on_commit(enqueue)
