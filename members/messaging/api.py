"""Message template endpoints (marketer, admin): texts per locale for campaign messages."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from loyalty.auth import require
from loyalty.extensions import db
from loyalty.models import MessageTemplate
from members.messaging import service as messaging
from members.messaging.schemas import TemplatePutSchema, TemplateSchema, TemplateSummarySchema

blp = Blueprint(
    "message_templates", __name__, url_prefix="/api/v1", description="Message templates"
)
SECURITY = [{"bearerAuth": []}]


def template_view(rows: list[MessageTemplate]) -> dict:
    texts = {r.locale: {f: getattr(r, f) for f in ("subject", "body", "updated_at")} for r in rows}
    return {"code": rows[0].code, "locales": texts}


@blp.route("/message-templates")
@require("marketer", "admin")
@blp.response(200, TemplateSummarySchema(many=True))
@blp.doc(security=SECURITY)
def list_templates():
    """Every message template code with its locales."""
    return messaging.list_templates(db.session)


@blp.route("/message-templates/<code>")
class TemplateItem(MethodView):
    decorators = [require("marketer", "admin")]

    @blp.response(200, TemplateSchema)
    @blp.doc(security=SECURITY)
    def get(self, code):
        """A message template's texts per locale."""
        return template_view(messaging.get_template(db.session, code))

    @blp.arguments(TemplatePutSchema)
    @blp.response(200, TemplateSchema)
    @blp.doc(security=SECURITY)
    def put(self, body, code):
        """Create or replace a template: the locales sent are kept, any other is removed."""
        return template_view(messaging.save_template(db.session, code, body["locales"]))
