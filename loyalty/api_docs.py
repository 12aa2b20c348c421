"""The flask-smorest Api, with errors answered as problem+json."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from loyalty.errors import handle_http_exception


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error is answered."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class LoyaltyApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        return handle_http_exception(error)
