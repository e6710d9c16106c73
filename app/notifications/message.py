"""What a message is made of, and how it becomes a MIME e-mail."""

from __future__ import annotations

import base64
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from app.core.i18n import Language

CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9.+-]*/[a-z0-9][a-z0-9.+-]*$", re.IGNORECASE)
CONTENT_ID = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+$")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with the message, e.g. `Attachment("termin.ics", "text/calendar", ics)`.

    With a `content_id` it is an inline part of the HTML instead (RFC 2387 multipart/related),
    shown where the HTML refers to it as `<img src="cid:{content_id}" alt="…">`; the id is
    `local@domain`, unique to the message, e.g. `qr-<booking id>@rathaus.example`.
    """

    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None

    def __post_init__(self) -> None:
        if not CONTENT_TYPE.match(self.content_type):
            raise ValueError("content_type must be type/subtype, e.g. text/calendar")
        if not self.filename or any(_unsafe_in_filename(c) for c in self.filename):
            raise ValueError(
                "filename must be a plain file name without path or control characters"
            )
        if self.content_id is not None and not CONTENT_ID.match(self.content_id):
            raise ValueError("content_id must be local@domain without angle brackets")


def _unsafe_in_filename(character: str) -> bool:
    return character in "/\\" or unicodedata.category(character).startswith("C")


@dataclass(frozen=True, slots=True)
class MailContent:
    """A rendered message, kept with its delivery until it is sent."""

    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "data": base64.b64encode(a.data).decode("ascii"),
                    "content_id": a.content_id,
                }
                for a in self.attachments
            ],
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> MailContent:
        return cls(
            subject=stored["subject"],
            text=stored["text"],
            html=stored["html"],
            attachments=tuple(
                Attachment(
                    a["filename"],
                    a["content_type"],
                    base64.b64decode(a["data"]),
                    a.get("content_id"),
                )
                for a in stored["attachments"]
            ),
        )


def envelope_address(mailbox: str) -> str:
    """`rathaus@stadt.example` from `Digitales Rathaus <rathaus@stadt.example>`."""
    return parseaddr(mailbox)[1]


def message_id_for(delivery_id: uuid.UUID, sender: str) -> str:
    """The `Message-ID`: fixed by the delivery, so every retry carries the same one."""
    domain = envelope_address(sender).rpartition("@")[2]
    return f"<{delivery_id.hex}@{domain}>"


def compose(
    content: MailContent,
    *,
    sender: str,
    recipient: str,
    message_id: str,
    date: datetime,
    language: Language,
) -> EmailMessage:
    """Text and HTML as alternatives, the HTML with its inline parts, followed by the
    attachments."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = content.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    # RFC 3834: out-of-office replies and other automatic answers are not sent back to us.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    html = message.get_body(preferencelist=("html",))
    assert html is not None  # added just above
    for attachment in content.attachments:
        maintype, subtype = attachment.content_type.lower().split("/")
        if attachment.content_id is not None:
            html.add_related(
                attachment.data,
                maintype=maintype,
                subtype=subtype,
                cid=f"<{attachment.content_id}>",
                filename=attachment.filename,
                disposition="inline",
            )
            continue
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    # Last: adding parts moves the Content-* headers set before into the first part.
    message["Content-Language"] = language.value
    return message
