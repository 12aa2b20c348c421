"""The HTML pages: the shopper's card page and the cashier's till page.

The pages are static shells: their JavaScript calls the public JSON API with a bearer token
kept in sessionStorage. No server-side session and no business rules live here.
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template

bp = Blueprint("pages", __name__)

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    )
)


@bp.after_request
def page_headers(response: Response) -> Response:
    """Pages run only our own scripts, are never framed and are never cached with a token."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
def landing() -> str:
    return render_template("landing.html")


@bp.get("/card")
def card() -> str:
    return render_template("card.html")


@bp.get("/till")
def till() -> str:
    return render_template("till.html")
