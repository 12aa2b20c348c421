"""Request and response schemas of the message template endpoints."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from members.messaging.service import template_problem


def jinja_text(value: str) -> None:
    """A template text Jinja can compile, naming nothing hidden (no `_` names, no includes)."""
    problem = template_problem(value)
    if problem is not None:
        raise ma.ValidationError(problem)


NOT_BLANK = validate.Regexp(r"\s*\S", error="must not be blank")


class TemplateTextSchema(ma.Schema):
    subject = fields.String(
        allow_none=True, validate=[validate.Length(max=200), jinja_text], load_default=None
    )
    body = fields.String(
        required=True, validate=[validate.Length(min=1, max=2000), NOT_BLANK, jinja_text]
    )


class TemplateLocalesSchema(ma.Schema):
    th = fields.Nested(TemplateTextSchema)
    en = fields.Nested(TemplateTextSchema)


class TemplatePutSchema(ma.Schema):
    locales = fields.Nested(
        TemplateLocalesSchema,
        required=True,
        metadata={"description": "Texts per locale (th, en), with {{ placeholders }}."},
    )

    @ma.validates_schema
    def some_locale(self, data, **_kwargs):
        if "locales" in data and not data["locales"]:
            raise ma.ValidationError("give at least one locale: th or en", "locales")


class TemplateTextOutSchema(ma.Schema):
    subject = fields.String(allow_none=True)
    body = fields.String()
    updated_at = fields.DateTime()


class TemplateSchema(ma.Schema):
    code = fields.String()
    locales = fields.Dict(keys=fields.String(), values=fields.Nested(TemplateTextOutSchema))


class TemplateSummarySchema(ma.Schema):
    code = fields.String()
    locales = fields.List(fields.String())
    updated_at = fields.DateTime()
