"""CSV downloads: rows as a spreadsheet reads them, with text that a spreadsheet could run as a
formula quoted."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from flask import Response

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(text: str) -> str:
    """Text a spreadsheet will not run as a formula (for what people typed, not numbers)."""
    return f"'{text}" if text.startswith(FORMULA_START) else text


def download(rows: Iterable[Sequence[str]], filename: str) -> Response:
    """The rows as a CSV attachment, never cached."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
