"""POS sources (`/api/v1/pos-sources`), their sync runs, and the vendors' webhooks
(`/api/v1/pos-webhooks/{id}`)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.auth import require
from loyalty.db import utcnow
from loyalty.extensions import db
from loyalty.jobs import redis_connection
from loyalty.outbox import emit
from pos_adapters import inbox, jobs, sources, sync
from pos_adapters.source_schemas import (
    NewSourceSchema,
    QueuedRunSchema,
    RejectionSchema,
    RunSchema,
    SourcePatchSchema,
    SourceSchema,
    SyncRequestSchema,
    WebhookAnswerSchema,
)

blp = Blueprint("pos_sources", __name__, url_prefix="/api/v1", description="POS sources")
SECURITY = [{"bearerAuth": []}]
SYNC_TOPIC = "pos.sync.requested"


def _public_url() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url


def _settings() -> sync.SyncSettings:
    return sync.SyncSettings.from_config(current_app.config, _public_url())


def _view(source) -> dict[str, Any]:
    return sources.source_view(source, _public_url(), utcnow())


@blp.route("/pos-sources")
class Sources(MethodView):
    decorators = [require("admin")]

    @blp.arguments(NewSourceSchema)
    @blp.response(201, SourceSchema)
    @blp.doc(security=SECURITY)
    def post(self, data):
        """Connect a POS account; credentials and the webhook secret are never shown again."""
        return _view(sources.create_source(db.session, data, current_app.config["SECRET_KEY"]))

    @blp.response(200, SourceSchema(many=True))
    @blp.doc(security=SECURITY)
    def get(self):
        return [_view(source) for source in sources.list_sources(db.session)]


@blp.route("/pos-sources/<int:source_id>")
class Source(MethodView):
    decorators = [require("admin")]

    @blp.response(200, SourceSchema)
    @blp.doc(security=SECURITY)
    def get(self, source_id):
        return _view(sources.get_source(db.session, source_id))

    @blp.arguments(SourcePatchSchema)
    @blp.response(200, SourceSchema)
    @blp.doc(security=SECURITY)
    def patch(self, changes, source_id):
        secret_key = current_app.config["SECRET_KEY"]
        return _view(sources.update_source(db.session, source_id, changes, secret_key))

    @blp.response(204)
    @blp.doc(security=SECURITY)
    def delete(self, source_id):
        """Stop syncing and forget the connection; the recorded transactions stay."""
        sources.delete_source(db.session, source_id)


@blp.route("/pos-sources/<int:source_id>/sync", methods=["POST"])
@require("admin")
@blp.arguments(SyncRequestSchema)
@blp.response(200, RunSchema, description="The finished run (jobs run in-process)")
@blp.alt_response(202, schema=QueuedRunSchema, description="The run, queued for a worker")
@blp.doc(security=SECURITY)
def start_sync(body, source_id):
    """Pull now, or backfill from `since`."""
    run = sync.request_run(db.session, source_id, body.get("since"), "api")
    if redis_connection(current_app) is not None:
        emit(db.session, SYNC_TOPIC, {"run_id": run.id})
        queued = jsonify(QueuedRunSchema().dump({"run_id": run.id}))
        queued.status_code = 202
        return queued  # a Response: not serialised by the 200 schema
    return sync.run_view(jobs.execute_run(db.session, run.id, _settings()))


@blp.route("/pos-sources/<int:source_id>/runs", methods=["GET"])
@require("admin")
@blp.response(200, RunSchema(many=True))
@blp.doc(security=SECURITY)
def list_runs(source_id):
    """The source's runs, newest first (the last 50)."""
    return [sync.run_view(run) for run in sync.runs_of(db.session, source_id)]


@blp.route("/pos-sources/<int:source_id>/runs/<int:run_id>/rejections", methods=["GET"])
@require("admin")
@blp.response(200, RejectionSchema(many=True))
@blp.doc(security=SECURITY)
def list_rejections(source_id, run_id):
    """Each vendor receipt the run did not record, and why."""
    return sync.rejections_of(db.session, source_id, run_id)


@blp.route("/pos-webhooks/<int:source_id>", methods=["POST"])
@blp.response(200, WebhookAnswerSchema)
def vendor_webhook(source_id):
    """A POS vendor's webhook, verified by the vendor's own signature over the raw body (Odoo:
    `?token=` the webhook secret); stored at once and recorded by a worker."""
    stored = inbox.receive(
        db.session,
        source_id,
        request.headers,
        request.get_data(cache=True),
        request.args,
        _settings(),
    )
    return {"stored": stored}
