"""QR images of card and voucher codes, in PNG and SVG."""

from __future__ import annotations

import io

import qrcode
import qrcode.image.svg


def qr_png(text: str, box_size: int = 8) -> bytes:
    image = qrcode.make(text, box_size=box_size, border=4)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_svg(text: str) -> bytes:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=4)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()
