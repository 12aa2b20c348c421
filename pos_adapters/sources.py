"""POS sources: a shop's account at a POS vendor, connected once by an admin. Credentials and
the webhook secret are sealed at rest and never shown again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from loyalty.errors import InvalidInput, NotFound
from loyalty.models import Store
from pos_adapters.models import (
    PosCustomer,
    PosDevice,
    PosInbox,
    PosRejection,
    PosSource,
    PosSyncRun,
)
from pos_adapters.secrets import seal, unseal
from pos_adapters.vendor import Connection, vendor_class

WEBHOOK_PATH = "/api/v1/pos-webhooks/{id}"


class UnknownPosSource(NotFound):
    slug, title = "unknown-pos-source", "Unknown POS source"


def get_source(session: Session, source_id: int, *, lock: bool = False) -> PosSource:
    source = session.get(PosSource, source_id, with_for_update=lock or None)
    if source is None:
        raise UnknownPosSource(f"No POS source {source_id}.")
    return source


def list_sources(session: Session) -> list[PosSource]:
    return list(session.scalars(select(PosSource).order_by(PosSource.id)))


def create_source(session: Session, data: dict[str, Any], secret_key: str) -> PosSource:
    """A new source from validated input (`source_schemas.NewSourceSchema`)."""
    kind = data["kind"]
    source = PosSource(
        kind=kind,
        name=data["name"],
        base_url=_base_url(kind, data.get("base_url")),
        credentials=seal(secret_key, _credentials(kind, data["credentials"])),
        webhook_secret=_sealed_secret(secret_key, data.get("webhook_secret")),
        stores=_stores(session, data.get("stores", {})),
        poll_minutes=data.get("poll_minutes", 5),
        enabled=data.get("enabled", True),
    )
    session.add(source)
    session.flush()
    return source


def update_source(
    session: Session, source_id: int, changes: dict[str, Any], secret_key: str
) -> PosSource:
    """Change what was sent; credentials and the secret are replaced whole when sent."""
    source = get_source(session, source_id, lock=True)
    if "kind" in changes and changes["kind"] != source.kind:
        raise InvalidInput("kind", "a source's kind cannot change; connect a new source")
    if "name" in changes:
        source.name = changes["name"]
    if "base_url" in changes:
        source.base_url = _base_url(source.kind, changes["base_url"])
    if "credentials" in changes:
        source.credentials = seal(secret_key, _credentials(source.kind, changes["credentials"]))
    if "webhook_secret" in changes:
        source.webhook_secret = _sealed_secret(secret_key, changes["webhook_secret"])
    if "stores" in changes:
        source.stores = _stores(session, changes["stores"])
    for name in ("poll_minutes", "enabled"):
        if name in changes:
            setattr(source, name, changes[name])
    session.flush()
    return source


def delete_source(session: Session, source_id: int) -> None:
    """Stop syncing and forget the connection; the transactions recorded from it stay."""
    get_source(session, source_id, lock=True)
    for model in (PosRejection, PosSyncRun, PosInbox, PosCustomer, PosDevice):
        session.execute(delete(model).where(model.source_id == source_id))
    session.execute(delete(PosSource).where(PosSource.id == source_id))


def connection(source: PosSource, secret_key: str, public_url: str) -> Connection:
    return Connection(
        base_url=source.base_url,
        credentials=unseal(secret_key, source.credentials),
        webhook_secret=unseal(secret_key, source.webhook_secret) if source.webhook_secret else None,
        webhook_url=webhook_url(source, public_url),
    )


def webhook_url(source: PosSource, public_url: str) -> str:
    """Where the vendor posts its webhooks; it never holds the secret."""
    return public_url.rstrip("/") + WEBHOOK_PATH.format(id=source.id)


def status(source: PosSource, now: datetime) -> str:
    """disabled, syncing, failing (the last run ended in an error), ok, or new."""
    if not source.enabled:
        return "disabled"
    if source.lease_until is not None and source.lease_until > now:
        return "syncing"
    if source.last_error:
        return "failing"
    return "ok" if source.last_sync_at else "new"


def source_view(source: PosSource, public_url: str, now: datetime) -> dict[str, Any]:
    return {
        "id": source.id,
        "kind": source.kind,
        "name": source.name,
        "base_url": source.base_url,
        "stores": source.stores,
        "poll_minutes": source.poll_minutes,
        "enabled": source.enabled,
        "status": status(source, now),
        "cursor": source.cursor,
        "last_sync_at": source.last_sync_at,
        "last_error": source.last_error,
        "webhook_url": webhook_url(source, public_url),
    }


def _base_url(kind: str, base_url: str | None) -> str:
    url = (base_url or vendor_class(kind).default_url).rstrip("/")
    if not url:
        raise InvalidInput("base_url", f"a {kind} source needs the address of its server")
    return url


def _credentials(kind: str, credentials: dict[str, Any]) -> dict[str, str]:
    fields = vendor_class(kind).credential_fields
    missing = [name for name in fields if not credentials.get(name)]
    unknown = sorted(set(credentials) - set(fields))
    if missing or unknown:
        raise InvalidInput(
            "credentials",
            f"a {kind} source takes exactly {', '.join(fields)}"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; unknown {', '.join(unknown)}" if unknown else ""),
        )
    return {name: str(credentials[name]) for name in fields}


def _sealed_secret(secret_key: str, secret: str | None) -> str | None:
    return seal(secret_key, secret) if secret else None


def _stores(session: Session, stores: dict[str, str]) -> dict[str, str]:
    """The vendor store → our store code mapping, each code an existing store."""
    codes = set(stores.values())
    known = (
        set(session.scalars(select(Store.code).where(Store.code.in_(codes)))) if codes else set()
    )
    unknown = sorted(codes - known)
    if unknown:
        raise InvalidInput("stores", f"no store with the code {', '.join(unknown)}")
    return dict(stores)
