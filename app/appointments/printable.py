"""The printable confirmation, for citizens who booked by phone or at the counter and have no
e-mail address: one A4 page in German and English with the reference, the date and time in
Berlin, the branch and its address, what to bring, and the QR code for check-in. With a
postal address it is placed for a window envelope (DIN 5008).

Plain HTML and CSS, no script and nothing loaded from elsewhere; the QR code is an inline SVG,
sharp at any print size.
"""

from __future__ import annotations

from html import escape

from babel.dates import format_date, format_time

from app.appointments.booking_service import BookingView
from app.appointments.qr import check_in_svg
from app.appointments.repository import BookingStatus
from app.appointments.staff_bookings import postal_address
from app.core.i18n import BERLIN

PRINT_STYLE = """
@page{size:A4;margin:20mm 20mm 20mm 25mm}
*{box-sizing:border-box}
body{font-family:system-ui,"Helvetica Neue",Arial,sans-serif;font-size:12pt;line-height:1.45;
color:#000;background:#fff;margin:0 auto;max-width:165mm;padding:1rem}
h1{font-size:18pt;margin:0 0 6mm}
h2{font-size:13pt;margin:6mm 0 2mm}
.en{color:#222}
.address{min-height:45mm;padding-top:5mm;white-space:pre-line}
dl{display:grid;grid-template-columns:max-content 1fr;gap:1.5mm 6mm;margin:0}
dt{font-weight:bold}
dd{margin:0}
.reference{font-size:16pt;font-weight:bold;letter-spacing:.08em}
.qr{display:flex;gap:6mm;align-items:center;margin:6mm 0;break-inside:avoid}
.qr svg{width:40mm;height:40mm;flex:none}
.notice{border:2px solid #000;padding:3mm;margin:4mm 0}
@media print{body{padding:0;max-width:none}}
"""


def _when(view: BookingView) -> list[tuple[str, str, str, str]]:
    start = view.booking.starts_at.astimezone(BERLIN)
    end = view.booking.ends_at.astimezone(BERLIN)
    return [
        (
            "Datum",
            format_date(start, "EEEE, d. MMMM y", locale="de"),
            "Date",
            format_date(start, "EEEE, d MMMM y", locale="en"),
        ),
        (
            "Uhrzeit",
            f"{format_time(start, 'HH:mm', locale='de')} bis "
            f"{format_time(end, 'HH:mm', locale='de')} Uhr",
            "Time",
            f"{format_time(start, 'h:mm a', locale='en')} to "
            f"{format_time(end, 'h:mm a', locale='en')}",
        ),
    ]


def _rows(view: BookingView) -> str:
    booking = view.booking
    place = "\n".join([view.branch_name, *view.branch_address])
    rows = [
        ("Name", booking.name or "", "Name", booking.name or ""),
        ("Dienstleistung", view.service.name_de, "Service", view.service.name_en),
        *_when(view),
        ("Ort", place, "Place", place),
        ("Personen", str(booking.persons), "Persons", str(booking.persons)),
    ]
    return "\n".join(
        f"<dt>{escape(de)} <span class='en' lang='en'>/ {escape(en)}</span></dt>"
        f"<dd>{_lines(de_value)}"
        + (
            f"<br><span class='en' lang='en'>{_lines(en_value)}</span>"
            if en_value != de_value
            else ""
        )
        + "</dd>"
        for de, de_value, en, en_value in rows
    )


def _lines(text: str) -> str:
    return "<br>".join(escape(line) for line in text.splitlines())


def _bring(view: BookingView) -> str:
    parts = []
    if view.service.bring_de:
        parts.append(f"<h2>Bitte bringen Sie mit</h2><p>{_lines(view.service.bring_de)}</p>")
    if view.service.bring_en:
        parts.append(
            f"<h2 lang='en'>Please bring</h2><p lang='en' class='en'>"
            f"{_lines(view.service.bring_en)}</p>"
        )
    return "\n".join(parts)


def _notice(view: BookingView) -> str:
    booking = view.booking
    reason = booking.change_reason
    if booking.status == BookingStatus.cancelled:
        why = (
            f"<p>Grund: {escape(reason)}</p><p class='en' lang='en'>Reason: {escape(reason)}</p>"
            if reason
            else ""
        )
        return (
            "<div class='notice' role='note'><p><strong>Dieser Termin ist abgesagt.</strong></p>"
            "<p class='en' lang='en'><strong>This appointment has been cancelled.</strong></p>"
            f"{why}</div>"
        )
    if reason:
        return (
            f"<div class='notice' role='note'><p>Hinweis: {escape(reason)}</p>"
            f"<p class='en' lang='en'>Note: {escape(reason)}</p></div>"
        )
    return ""


def _recipient(view: BookingView) -> str:
    address = postal_address(view.booking.postal_address)
    if address is None:
        return ""
    lines = [view.booking.name or "", address.street, f"{address.postal_code} {address.city}"]
    return f"<div class='address' aria-label='Anschrift'>{_lines(chr(10).join(lines))}</div>"


async def confirmation_page(view: BookingView) -> str:
    """The whole page for `view`."""
    reference = view.booking.reference
    qr = await check_in_svg(
        reference, f"QR-Code zum Anmelden, Buchungsnummer {reference} / QR code to check in"
    )
    return f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Terminbestätigung {escape(reference)}</title>
<style>{PRINT_STYLE}</style>
</head>
<body>
<main>
{_recipient(view)}
<h1>Terminbestätigung <span class="en" lang="en">/ Appointment confirmation</span></h1>
{_notice(view)}
<p>Buchungsnummer <span class="en" lang="en">/ Booking number</span>:
<span class="reference">{escape(reference)}</span></p>
<dl>
{_rows(view)}
</dl>
<div class="qr">
<div role="img" aria-label="QR-Code mit der Buchungsnummer {escape(reference)}">{qr}</div>
<div>
<p>Zeigen Sie bei Ihrer Ankunft am Standort diesen QR-Code vor oder nennen Sie die
Buchungsnummer.</p>
<p class="en" lang="en">When you arrive at the branch, show this QR code or quote the booking
number.</p>
</div>
</div>
{_bring(view)}
<p>Sie können nicht kommen? Bitte sagen Sie den Termin telefonisch oder am Standort ab, damit
ihn jemand anderes nutzen kann.</p>
<p class="en" lang="en">Can't make it? Please cancel by phone or at the branch so that someone
else can use the appointment.</p>
</main>
</body>
</html>
"""
