"""Outbox drains in helper processes beside a long command (an import), so that the engine
runs on another core while the command records: the command's process records, each helper
drains what is committed, and the command drains what is left once they stop."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.synchronize import Event

import click
from flask import Flask

from loyalty import jobs
from loyalty.extensions import db

IDLE_WAIT_S = 0.05
log = logging.getLogger(__name__)

# `--workers N` of a long command that records while helpers drain (`helper_drains`)
workers_option = click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 8),
    help="Processes in all: with more than one, the others run the engine on what this one "
    "records (PostgreSQL; without Redis).",
)


def _drain_until_stopped(app: Flask, stop: Event, limit: int) -> None:
    """A helper's life: drain, wait a moment when nothing is pending, and after `stop` drain
    once more until nothing is."""
    db.engine.dispose(close=False)  # the parent's pooled connections stay the parent's
    with app.app_context():
        while True:
            stopping = stop.is_set()
            if jobs.drain_now(app, limit) == 0:
                if stopping:
                    return
                stop.wait(IDLE_WAIT_S)


@contextmanager
def helper_drains(app: Flask, count: int, limit: int) -> Iterator[None]:
    """Run `count` helper processes that drain the outbox `limit` messages per transaction
    while the block runs; on leaving, wait for them. Several drains split the pending work on
    PostgreSQL (SKIP LOCKED); on SQLite they take turns. A helper that fails leaves its work
    pending for the next drain: nothing is lost or done twice."""
    if count <= 0:
        yield
        return
    context = multiprocessing.get_context("fork")  # the helpers share the app's configuration
    stop = context.Event()
    db.session.close()  # no connection of the parent's crosses the fork
    db.engine.dispose()
    helpers = [
        context.Process(target=_drain_until_stopped, args=(app, stop, limit), daemon=True)
        for _ in range(count)
    ]
    for helper in helpers:
        helper.start()
    try:
        yield
    finally:
        stop.set()
        for helper in helpers:
            helper.join()
            if helper.exitcode:
                log.warning("outbox helper %s ended with status %s", helper.pid, helper.exitcode)
