"""Flask CLI commands of the shell: stores, terminals, users, messages, worker, outbox."""

from __future__ import annotations

import threading
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from rq import SimpleWorker

from loyalty import jobs, staff
from loyalty.errors import DomainError
from loyalty.extensions import db
from loyalty.message_jobs import send_all_due
from loyalty.messages import list_messages
from loyalty.senders import senders_from_config
from loyalty.unit_of_work import unit_of_work

stores_cli = AppGroup("stores", help="Stores.")
terminals_cli = AppGroup("terminals", help="POS terminals and their API keys.")
users_cli = AppGroup("users", help="Staff users.")
messages_cli = AppGroup("messages", help="The message outbox.")
outbox_cli = AppGroup("outbox", help="The work outbox.")


def _fail(error: DomainError) -> click.ClickException:
    return click.ClickException(error.detail)


@stores_cli.command("create")
@click.argument("code")
@click.argument("name")
def create_store(code: str, name: str) -> None:
    """Add a store."""
    try:
        with unit_of_work():
            store = staff.create_store(db.session, code, name)
    except DomainError as error:
        raise _fail(error) from error
    click.echo(f"store {store.code} created (id {store.id})")


@terminals_cli.command("create")
@click.option("--store", "store_code", required=True, help="Store code.")
@click.option("--name", required=True)
def create_terminal(store_code: str, name: str) -> None:
    """Add a POS terminal; its API key is printed once, as the last line."""
    try:
        with unit_of_work():
            terminal, key = staff.create_terminal(db.session, store_code, name)
    except DomainError as error:
        raise _fail(error) from error
    click.echo(f"terminal {terminal.id} created for store {store_code}; its API key:")
    click.echo(key)


@terminals_cli.command("revoke")
@click.argument("terminal_id", type=int)
def revoke_terminal(terminal_id: int) -> None:
    """Revoke a terminal's API key."""
    try:
        with unit_of_work():
            staff.revoke_terminal(db.session, terminal_id)
    except DomainError as error:
        raise _fail(error) from error
    seconds = current_app.config["TERMINAL_KEY_CACHE_SECONDS"]
    click.echo(f"terminal {terminal_id} revoked (the service refuses its key within {seconds} s)")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["cashier", "marketer", "admin"]))
@click.option("--store", "store_code", default=None)
@click.option("--password", required=True)
def create_user(email: str, role: str, store_code: str | None, password: str) -> None:
    """Add a staff user."""
    try:
        with unit_of_work():
            user = staff.create_user(db.session, email, role, password, store_code)
    except DomainError as error:
        raise _fail(error) from error
    click.echo(f"user {user.email} created with role {user.role}")


@messages_cli.command("list")
@click.option("--to", "recipient", default=None, help="Phone (E.164) or email.")
@click.option("--limit", default=20, show_default=True)
def messages_list(recipient: str | None, limit: int) -> None:
    """The message outbox, newest first."""
    for m in list_messages(db.session, recipient, limit):
        click.echo(
            f"{m.created_at:%Y-%m-%d %H:%M:%S} {m.channel:5} {m.status:6} {m.recipient:24} {m.body}"
        )


@messages_cli.command("send")
@click.option("--every", default=0.0, help="Keep sending, every this many seconds.")
def messages_send(every: float) -> None:
    """Send the due messages through the configured SMTP server and webhook."""
    config = current_app.config
    try:
        senders = senders_from_config(config)
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    if not senders:
        raise click.ClickException(
            "No sender is configured (LOYALTY_SMTP_URL, LOYALTY_MESSAGE_WEBHOOK_URL); "
            "messages stay queued."
        )
    while True:
        try:
            counts = send_all_due(db.session, senders, config["MESSAGE_SEND_BATCH"], float("inf"))
        except Exception:  # a sender left running must outlive a database outage
            if every <= 0:
                raise
            current_app.logger.exception("sending messages failed")
        else:
            sent, retrying, failed = counts["sent"], counts["retrying"], counts["failed"]
            click.echo(f"{sent} sent, {retrying} to retry, {failed} failed")
        if every <= 0:
            return
        time.sleep(every)


@outbox_cli.command("drain")
def outbox_drain() -> None:
    """Process all pending outbox work in this process."""
    click.echo(f"{jobs.drain_now(current_app)} messages processed")


@outbox_cli.command("relay")
def outbox_relay() -> None:
    """Re-dispatch pending work that no drain has taken."""
    click.echo("dispatched" if jobs.relay_outbox(0) else "nothing stale")


def _relay_loop(app: Flask, every: float) -> None:
    while True:
        time.sleep(every)
        try:
            with app.app_context():
                jobs.relay_outbox()
        except Exception:  # the relay must outlive a database or Redis outage
            app.logger.exception("outbox relay failed")


@click.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--relay-every", default=5.0, show_default=True, help="Outbox relay period (s).")
def worker(queues: tuple[str, ...], burst: bool, relay_every: float) -> None:
    """An RQ worker (with the scheduler) using this app's configuration."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    connection = jobs.redis_connection(app)
    if connection is None:
        raise click.ClickException("LOYALTY_REDIS_URL is not set; jobs run in-process.")
    if not burst and relay_every > 0:
        threading.Thread(target=_relay_loop, args=(app, relay_every), daemon=True).start()
    names = list(queues) or [jobs.EVENTS_QUEUE, jobs.DEFAULT_QUEUE]
    SimpleWorker(names, connection=connection).work(with_scheduler=True, burst=burst)


def init_app(app: Flask) -> None:
    for group in (stores_cli, terminals_cli, users_cli, messages_cli, outbox_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker)
