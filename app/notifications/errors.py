"""Errors a caller of the notification service can make."""

from __future__ import annotations


class InvalidRecipientAddress(ValueError):
    """The address is not one we can send to. Deliberately without the address itself."""

    def __init__(self) -> None:
        super().__init__("the recipient address is not a valid e-mail address")
