"""Jobs declare their queue, timeout and TTLs where they are defined; enqueueing and `rq cron`
read them from the function."""

from __future__ import annotations

from redis import Redis
from rq import Queue
from rq.cron import CronScheduler

from loyalty import cron
from loyalty.jobs import (
    DEFAULT_QUEUE,
    EVENTS_QUEUE,
    drain_outbox,
    enqueue_drain,
    options_of,
    periodic_tasks,
    relay_outbox,
    run_periodic,
)


def test_a_queued_drain_carries_what_the_drain_job_declares(app_with_redis, redis_url):
    assert enqueue_drain(app_with_redis(redis_url))

    with Redis.from_url(redis_url) as connection:
        [queued] = Queue(EVENTS_QUEUE, connection=connection).get_jobs()
    declared = options_of(drain_outbox)
    assert queued.func_name == "loyalty.jobs.drain_outbox"
    assert (queued.origin, queued.timeout) == (declared.queue, declared.timeout)
    assert (queued.result_ttl, queued.failure_ttl) == (declared.result_ttl, declared.failure_ttl)
    assert (declared.queue, declared.timeout, declared.result_ttl) == (EVENTS_QUEUE, 600, 0)


def scheduled(redis_url: str) -> dict[str, object]:
    """What `rq cron loyalty.cron` registers, by cron job name."""
    scheduler = CronScheduler(Redis.from_url(redis_url))
    scheduler.load_config_from_file("loyalty.cron")
    return {job.name: job for job in scheduler.get_jobs()}


def test_rq_cron_runs_the_relay_as_it_declares(redis_url):
    relay = scheduled(redis_url)["loyalty.jobs.relay_outbox"]

    assert relay.queue_name == options_of(relay_outbox).queue == EVENTS_QUEUE
    assert relay.job_options == options_of(relay_outbox).rq_options()
    assert relay.interval == 10


def test_rq_cron_schedules_every_periodic_task_the_app_registers(app, redis_url):
    jobs = scheduled(redis_url)
    periodic = {name: job for name, job in jobs.items() if name.startswith("periodic:")}

    assert {job.args for job in periodic.values()} == {(name,) for name in periodic_tasks(app)}
    declared = options_of(run_periodic)
    for job in periodic.values():
        assert job.func_name == "loyalty.jobs.run_periodic"
        assert job.queue_name == declared.queue == DEFAULT_QUEUE
        task = cron.PERIODIC[job.args[0]]
        assert job.job_options == declared.rq_options(task.timeout)
    assert jobs["periodic:refresh_profiles"].job_options["job_timeout"] == 1800
    assert jobs["periodic:expire_points"].job_options["job_timeout"] == declared.timeout
