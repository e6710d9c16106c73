"""The QR code that the confirmation e-mail and the printed confirmation carry for check-in.

Its payload is the booking's reference exactly as `allocate` wrote it, e.g. `T-4KQ7-M9X8`:
upper-case letters, digits and hyphens, which QR's alphanumeric mode holds in the smallest
symbol (version 1, 21×21 modules, error correction level M, so a creased printout still
scans). A hand scanner types it into the check-in field like a keyboard, and
`appointments_check_in` takes it as it takes a typed reference; a phone's camera app shows
the reference, which the citizen can quote. It carries no link and no secret: knowing a
reference lets nobody see or change the booking.

Making the image is CPU work, so it runs off the event loop (`app.core.offload`).
"""

from __future__ import annotations

import io

import segno

from app.core.offload import run_cpu_bound

ERROR_CORRECTION = "m"
PNG_SCALE = 8
"""Pixels per module: 21 modules and a quiet zone of 4 on each side make 232 pixels."""


def check_in_payload(reference: str) -> str:
    """What the QR code of a booking encodes, and what check-in accepts."""
    return reference


def _symbol(payload: str) -> segno.QRCode:
    return segno.make_qr(payload, error=ERROR_CORRECTION, boost_error=False)


def _png(payload: str) -> bytes:
    out = io.BytesIO()
    _symbol(payload).save(out, kind="png", scale=PNG_SCALE, border=4)
    return out.getvalue()


def _svg(payload: str, title: str) -> str:
    return str(_symbol(payload).svg_inline(scale=1, border=4, omitsize=True, title=title))


async def check_in_png(reference: str) -> bytes:
    """The booking's QR code as a PNG, for the e-mail."""
    return await run_cpu_bound(_png, check_in_payload(reference))


async def check_in_svg(reference: str, title: str) -> str:
    """The booking's QR code as an inline `<svg>` element named `title`, sharp at any print
    size (an inline element, as the pages' CSP allows no `data:` images)."""
    return await run_cpu_bound(_svg, check_in_payload(reference), title)
