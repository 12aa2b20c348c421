"""Periodic jobs for `rq cron loyalty.cron`: the outbox relay, message sending, daily tasks."""

from rq import cron

from loyalty.jobs import DEFAULT_QUEUE, EVENTS_QUEUE, relay_outbox, run_periodic

cron.register(relay_outbox, EVENTS_QUEUE, interval=10)
cron.register(run_periodic, DEFAULT_QUEUE, args=("expire_points",), cron="5 17 * * *")
# Hourly: the task works out the program's day itself and runs each day once, so the
# day's events go out within the hour after midnight in any time zone.
cron.register(run_periodic, DEFAULT_QUEUE, args=("daily_events",), cron="10 * * * *")
# Due messages go out every 15 s; a run stops taking new batches after a minute.
cron.register(run_periodic, DEFAULT_QUEUE, args=("send_messages",), interval=15, job_timeout=600)
# Profile scores daily at 00:20 in Bangkok; the lifetime value model refitted every Sunday.
cron.register(
    run_periodic, DEFAULT_QUEUE, args=("refresh_profiles",), cron="20 17 * * *", job_timeout=1800
)
cron.register(run_periodic, DEFAULT_QUEUE, args=("fit_clv",), cron="40 17 * * 0", job_timeout=1800)
# Hourly: tier reviews fall due at midnight in the program's time zone, whichever it is.
cron.register(
    run_periodic, DEFAULT_QUEUE, args=("review_tiers",), cron="25 * * * *", job_timeout=900
)
# Segments hourly (their rules read recency, tags and consents, which change through the day).
cron.register(
    run_periodic, DEFAULT_QUEUE, args=("refresh_segments",), cron="50 * * * *", job_timeout=1800
)
