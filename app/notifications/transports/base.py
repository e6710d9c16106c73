"""What a mail transport does, and the two ways it can fail."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    delivery_id: uuid.UUID
    envelope_sender: str
    envelope_recipient: str
    message: EmailMessage
    message_id: str


class DeliveryFailed(Exception):
    """A message was not delivered. Carries only the type of the underlying error: error texts
    and server replies can name the recipient."""

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


class TemporaryFailure(DeliveryFailed):
    """Worth another attempt later: a 4xx reply, a timeout, a lost connection."""


class PermanentFailure(DeliveryFailed):
    """Another attempt would fail the same way: a 5xx reply."""


class MailTransport(Protocol):
    async def send(self, mail: OutgoingMail) -> str:
        """Hand the message on; return the provider's id for it (a queue id, or the
        message's own `Message-ID`). Raise `TemporaryFailure` or `PermanentFailure`."""
        ...
