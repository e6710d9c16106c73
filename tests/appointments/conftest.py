"""The appointment tests send their e-mails to a real SMTP server, as the notification
tests do."""

from tests.notifications.conftest import mailbox, smtp_port, smtp_settings

__all__ = ["mailbox", "smtp_port", "smtp_settings"]
