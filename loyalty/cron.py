"""Periodic jobs for `rq cron loyalty.cron`: the outbox relay and the daily tasks."""

from rq import cron

from loyalty.jobs import DEFAULT_QUEUE, EVENTS_QUEUE, relay_outbox, run_periodic

cron.register(relay_outbox, EVENTS_QUEUE, interval=10)
cron.register(run_periodic, DEFAULT_QUEUE, args=("expire_points",), cron="5 17 * * *")
