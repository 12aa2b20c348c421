"""Pulling a POS source, the rules of a run: asked for (queued), started under the source's
lease (one run per source at a time), each page recorded with the cursor after it, finished
with the error that ended it kept in `last_error` (the next run resumes from the cursor).
The job that carries a run out, a unit of work per page, is `pos_adapters/jobs.py`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from loyalty.db import utcnow
from loyalty.models import Store
from loyalty.unit_of_work import AnySession
from members.cards.service import CodePolicy
from pos_adapters import sources
from pos_adapters.models import PosRejection, PosSource, PosSyncRun
from pos_adapters.recording import Counts, Target, record_vendor_receipts
from pos_adapters.vendor import Customer, Page, VendorClient, vendor_class
from pos_adapters.vendor_http import VendorError, VendorHttp

LEASE = timedelta(minutes=15)  # renewed with every page; a crashed run frees it when it ends


@dataclass(frozen=True)
class SyncSettings:
    """What a run needs from the app's configuration."""

    secret_key: str
    public_url: str
    currency: str
    code_policy: CodePolicy
    http_attempts: int = 5
    http_backoff: float = 0.5
    http_timeout: float = 20.0
    commit_receipts: int = 1000  # pages are recorded together until they hold this many

    @classmethod
    def from_config(cls, config: Any, public_url: str | None = None) -> SyncSettings:
        return cls(
            secret_key=config["SECRET_KEY"],
            public_url=public_url or config.get("PUBLIC_URL") or "http://localhost:5000",
            currency=config["CURRENCY"],
            code_policy=CodePolicy(config["SECRET_KEY"].encode(), config["CARD_CODE_STEP"]),
            http_attempts=config.get("POS_HTTP_ATTEMPTS", 5),
            http_backoff=config.get("POS_HTTP_BACKOFF", 0.5),
            http_timeout=config.get("POS_HTTP_TIMEOUT", 20.0),
            commit_receipts=config.get("POS_COMMIT_RECEIPTS", 1000),
        )

    def http(self) -> VendorHttp:
        return VendorHttp(
            attempts=self.http_attempts, backoff=self.http_backoff, timeout=self.http_timeout
        )


def request_run(
    session: Session, source_id: int, since: datetime | None, trigger: str
) -> PosSyncRun:
    """A queued run of the source (404 for an unknown one)."""
    sources.get_source(session, source_id)
    run = PosSyncRun(source_id=source_id, since=since, trigger=trigger, requested_at=utcnow())
    session.add(run)
    session.flush()
    return run


def client_for(source: PosSource, settings: SyncSettings) -> VendorClient:
    conn = sources.connection(source, settings.secret_key, settings.public_url)
    return vendor_class(source.kind)(conn, settings.http())


def target_for(
    session: Session, source: PosSource, settings: SyncSettings, client: VendorClient
) -> Target:
    codes = session.execute(select(Store.code, Store.id)).all()
    by_code = {row.code: row.id for row in codes}
    return Target(
        source_id=source.id,
        name=source.name,
        stores={vendor: by_code[code] for vendor, code in source.stores.items() if code in by_code},
        currency=settings.currency,
        code_policy=settings.code_policy,
        now=utcnow(),
        customer=_cached_customers(client),
    )


def start_run(session: AnySession, run_id: int, now: datetime) -> PosSyncRun | None:
    """Mark a queued run running, under the source's lease; None when the run is not queued
    any more (taken by another worker). Without the lease, the run fails at once."""
    run = session.get(PosSyncRun, run_id, with_for_update=True)
    if run is None or run.state != "queued":
        return None
    if not _take_lease(session, run.source_id, now):
        run.state, run.started_at, run.finished_at = "failed", now, now
        run.error = "another sync of this source is running"
        return None
    run.state, run.started_at = "running", now
    return run


def record_page(session: AnySession, run: PosSyncRun, target: Target, page: Page) -> Counts:
    """A page's receipts recorded, counted on the run, and the source's cursor moved past
    them, in the caller's unit of work."""
    target.now = utcnow()
    counts = record_vendor_receipts(session, target, page.receipts, run_id=run.id)
    run.fetched += counts.fetched
    run.recorded += counts.recorded
    run.already_there += counts.already_there
    run.rejected += counts.rejected
    session.execute(
        update(PosSource)
        .where(PosSource.id == run.source_id)
        .values(cursor=page.cursor, lease_until=utcnow() + LEASE)
    )
    return counts


def finish_run(session: AnySession, run: PosSyncRun, error: str | None) -> None:
    """The run ends (failed with `error`, or finished); the source's lease is freed."""
    now = utcnow()
    run.state = "failed" if error else "finished"
    run.finished_at, run.error = now, error
    session.execute(
        update(PosSource)
        .where(PosSource.id == run.source_id)
        .values(lease_until=None, last_sync_at=now, last_error=error)
    )


def _take_lease(session: AnySession, source_id: int, now: datetime) -> bool:
    return bool(
        session.execute(
            update(PosSource)
            .where(
                PosSource.id == source_id,
                or_(PosSource.lease_until.is_(None), PosSource.lease_until <= now),
            )
            .values(lease_until=now + LEASE)
        ).rowcount
    )


def _cached_customers(client: VendorClient) -> Callable[[str], Customer | None]:
    """`client.customer`, each id asked once per run; a vendor error reads as unknown."""
    seen: dict[str, Customer | None] = {}

    def customer(customer_id: str) -> Customer | None:
        if customer_id not in seen:
            try:
                seen[customer_id] = client.customer(customer_id)
            except VendorError:
                seen[customer_id] = None
        return seen[customer_id]

    return customer


def due_sources(session: Session, now: datetime) -> list[int]:
    """Enabled sources whose last sync is `poll_minutes` old (or never ran), with no run
    queued or running."""
    busy = select(PosSyncRun.source_id).where(PosSyncRun.state.in_(("queued", "running")))
    rows = session.execute(
        select(PosSource.id, PosSource.last_sync_at, PosSource.poll_minutes).where(
            PosSource.enabled.is_(True), PosSource.id.not_in(busy)
        )
    )
    return [
        row.id
        for row in rows
        if row.last_sync_at is None or row.last_sync_at + timedelta(minutes=row.poll_minutes) <= now
    ]


def runs_of(session: Session, source_id: int, limit: int = 50) -> list[PosSyncRun]:
    sources.get_source(session, source_id)
    return list(
        session.scalars(
            select(PosSyncRun)
            .where(PosSyncRun.source_id == source_id)
            .order_by(PosSyncRun.id.desc())
            .limit(limit)
        )
    )


def rejections_of(session: Session, source_id: int, run_id: int) -> list[PosRejection]:
    run = session.get(PosSyncRun, run_id)
    if run is None or run.source_id != source_id:
        raise sources.UnknownPosSource(f"No run {run_id} of POS source {source_id}.")
    return list(
        session.scalars(
            select(PosRejection).where(PosRejection.run_id == run_id).order_by(PosRejection.id)
        )
    )


def run_view(run: PosSyncRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "state": run.state,
        "trigger": run.trigger,
        "since": run.since,
        "requested_at": run.requested_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "fetched": run.fetched,
        "recorded": run.recorded,
        "already_there": run.already_there,
        "rejected": run.rejected,
        "error": run.error,
    }
