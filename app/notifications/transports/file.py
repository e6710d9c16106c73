"""Development transport: each message becomes an `.eml` file under RATHAUS_MAIL_DIR."""

from __future__ import annotations

import asyncio
import os
from email.policy import SMTP
from pathlib import Path

import structlog

from app.core.db import utcnow
from app.notifications.transports.base import OutgoingMail

logger = structlog.get_logger("rathaus.notifications")


class FileTransport:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, mail: OutgoingMail) -> str:
        # Time first so that `ls` lists the mails in order; never the address.
        name = f"{utcnow():%Y%m%dT%H%M%SZ}-{mail.delivery_id}.eml"
        await asyncio.to_thread(self._write, name, mail.message.as_bytes(policy=SMTP))
        logger.info("mail.written", delivery_id=str(mail.delivery_id), file=name)
        return mail.message_id

    def _write(self, name: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        partial = self.directory / f".{name}.partial"
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        # A reader of the directory sees whole files only.
        partial.replace(self.directory / name)
