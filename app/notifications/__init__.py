"""Notifications: e-mail to citizens and staff, rendered from templates and sent by a job.

A domain calls `notification_service.send(session, recipient, template, context, …)` in its
own transaction. The message is rendered there and then (a missing template variable fails the
caller), stored with a delivery row and sent by a job once the transaction commits; a rollback
sends nothing. The delivery row stays as a log without address or body.

Each domain keeps its templates in `app/<domain>/templates/mail/` and names them
`<domain>/<name>`; this package ships the shared layouts and its own test message.
"""
