"""The flask-smorest Api, with errors answered as problem+json."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
import marshmallow as ma
from flask import Blueprint, send_from_directory
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from loyalty.errors import handle_http_exception

PROBLEM = "application/problem+json"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error is answered."""

    type = ma.fields.String()
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    errors = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()))


class LoyaltyApi(Api):
    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        """Error responses are documented as application/problem+json, as they are sent."""
        default, self.DEFAULT_RESPONSE_CONTENT_TYPE = self.DEFAULT_RESPONSE_CONTENT_TYPE, PROBLEM
        try:
            super()._register_responses()
        finally:
            self.DEFAULT_RESPONSE_CONTENT_TYPE = default

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        return handle_http_exception(error)


SWAGGER_DIST = Path(flask_swagger_ui.__file__).resolve().parent / "dist"
assets = Blueprint("api_docs_assets", __name__)


@assets.get("/api/docs/assets/<path:filename>")
def swagger_asset(filename: str):
    """Swagger UI's files, served locally so the interactive docs work offline."""
    return send_from_directory(SWAGGER_DIST, filename, max_age=86400)
