"""One error hierarchy, rendered as RFC 9457 `application/problem+json`.

Every error a client can see is an `AppError` subclass that carries its HTTP status, a stable
`type` URI and a German and English title. Domains subclass these; `app.core.problems`
renders all of them, and the framework's own errors, through one handler.
"""

from __future__ import annotations

from typing import Any, ClassVar

from app.core.i18n import Text

PROBLEM_TYPE_BASE = "https://rathaus.example/problems/"


class AppError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[Text] = Text(de="Interner Fehler", en="Internal error")
    default_detail: ClassVar[Text] = Text(
        de="Bei der Bearbeitung ist ein unerwarteter Fehler aufgetreten.",
        en="An unexpected error occurred while processing the request.",
    )

    def __init__(
        self,
        detail: Text | None = None,
        *,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
        keeps_changes: bool = False,
    ) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        self.extensions = extensions or {}
        # A refusal that is itself an effect (a replayed code ends its session) commits what
        # the request wrote so far instead of rolling it back.
        self.keeps_changes = keeps_changes
        super().__init__(self.detail.en)

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_TYPE_BASE + cls.slug


class BadRequest(AppError):
    status = 400
    slug = "bad-request"
    title = Text(de="Ungültige Anfrage", en="Bad request")
    default_detail = Text(
        de="Die Anfrage konnte nicht verarbeitet werden.",
        en="The request could not be processed.",
    )


class MalformedBody(BadRequest):
    slug = "malformed-body"
    title = Text(de="Ungültiger Anfragetext", en="Malformed request body")
    default_detail = Text(
        de="Der Anfragetext ist kein gültiges JSON.",
        en="The request body is not valid JSON.",
    )


class InvalidCursor(BadRequest):
    slug = "invalid-cursor"
    title = Text(de="Ungültiger Cursor", en="Invalid cursor")
    default_detail = Text(
        de="Der Parameter 'cursor' ist ungültig oder abgelaufen. Beginnen Sie mit der ersten Seite.",
        en="The 'cursor' parameter is invalid or expired. Start again from the first page.",
    )


class Unauthorized(AppError):
    status = 401
    slug = "unauthorized"
    title = Text(de="Anmeldung erforderlich", en="Authentication required")
    default_detail = Text(
        de="Für diese Anfrage ist eine gültige Anmeldung erforderlich.",
        en="This request requires valid authentication.",
    )


class Forbidden(AppError):
    status = 403
    slug = "forbidden"
    title = Text(de="Zugriff verweigert", en="Forbidden")
    default_detail = Text(
        de="Sie sind nicht berechtigt, diese Aktion auszuführen.",
        en="You are not allowed to perform this action.",
    )


class NotFound(AppError):
    status = 404
    slug = "not-found"
    title = Text(de="Nicht gefunden", en="Not found")
    default_detail = Text(
        de="Die angeforderte Ressource wurde nicht gefunden.",
        en="The requested resource was not found.",
    )


class MethodNotAllowed(AppError):
    status = 405
    slug = "method-not-allowed"
    title = Text(de="Methode nicht erlaubt", en="Method not allowed")
    default_detail = Text(
        de="Diese HTTP-Methode wird für diese Adresse nicht unterstützt.",
        en="This HTTP method is not supported for this resource.",
    )


class Conflict(AppError):
    status = 409
    slug = "conflict"
    title = Text(de="Konflikt", en="Conflict")
    default_detail = Text(
        de="Die Anfrage steht im Konflikt mit dem aktuellen Zustand der Ressource.",
        en="The request conflicts with the current state of the resource.",
    )


class IdempotencyInFlight(Conflict):
    slug = "idempotency-in-flight"
    title = Text(de="Anfrage wird noch bearbeitet", en="Request still in progress")
    default_detail = Text(
        de="Eine Anfrage mit diesem Idempotency-Key wird gerade bearbeitet. "
        "Wiederholen Sie sie später.",
        en="A request with this Idempotency-Key is still being processed. Retry later.",
    )


class PreconditionFailed(AppError):
    status = 412
    slug = "precondition-failed"
    title = Text(de="Vorbedingung fehlgeschlagen", en="Precondition failed")
    default_detail = Text(
        de="Die Ressource wurde inzwischen geändert (If-Match passt nicht). "
        "Laden Sie sie neu und versuchen Sie es erneut.",
        en="The resource has changed (If-Match does not match). Reload it and try again.",
    )


class PayloadTooLarge(AppError):
    status = 413
    slug = "payload-too-large"
    title = Text(de="Anfrage zu groß", en="Payload too large")
    default_detail = Text(
        de="Der Anfragetext überschreitet die zulässige Größe.",
        en="The request body exceeds the allowed size.",
    )


class UnsupportedMediaType(AppError):
    status = 415
    slug = "unsupported-media-type"
    title = Text(de="Nicht unterstützter Medientyp", en="Unsupported media type")
    default_detail = Text(
        de="Der Anfragetext muss als application/json gesendet werden.",
        en="The request body must be sent as application/json.",
    )


class ValidationFailed(AppError):
    status = 422
    slug = "validation-failed"
    title = Text(de="Ungültige Eingabe", en="Validation failed")
    default_detail = Text(
        de="Mindestens ein Feld ist ungültig. Details stehen in 'errors'.",
        en="At least one field is invalid. See 'errors' for details.",
    )


class InputRefused(ValidationFailed):
    """A well-formed request the domain cannot take because of one field; `errors` points at
    it (`pointer`, a JSON pointer into the body, or `#/query/…`)."""

    pointer: ClassVar[str] = "#"

    def __init__(
        self, detail: Text | None = None, *, pointer: str | None = None, **extensions: Any
    ) -> None:
        shown = detail or self.default_detail
        where = pointer or self.pointer
        super().__init__(
            shown, extensions={"errors": [{"pointer": where, "detail": shown.get()}], **extensions}
        )


class IdempotencyKeyReused(ValidationFailed):
    slug = "idempotency-key-reused"
    title = Text(de="Idempotency-Key wiederverwendet", en="Idempotency-Key reused")
    default_detail = Text(
        de="Dieser Idempotency-Key wurde bereits für eine andere Anfrage verwendet.",
        en="This Idempotency-Key was already used for a different request.",
    )


class PreconditionRequired(AppError):
    status = 428
    slug = "precondition-required"
    title = Text(de="Vorbedingung erforderlich", en="Precondition required")
    default_detail = Text(
        de="Diese Änderung erfordert den Header If-Match mit dem aktuellen ETag.",
        en="This change requires an If-Match header with the current ETag.",
    )


class RequestTimeout(AppError):
    status = 408
    slug = "request-timeout"
    title = Text(de="Zeitüberschreitung der Anfrage", en="Request timeout")
    default_detail = Text(
        de="Die Kopfzeilen der Anfrage kamen nicht rechtzeitig an.",
        en="The request's headers did not arrive in time.",
    )


class RequestHeaderFieldsTooLarge(AppError):
    status = 431
    slug = "request-header-fields-too-large"
    title = Text(de="Kopfzeilen zu groß", en="Request header fields too large")
    default_detail = Text(
        de="Die Kopfzeilen der Anfrage überschreiten die zulässige Größe.",
        en="The request's header fields exceed the allowed size.",
    )


class TooManyRequests(AppError):
    status = 429
    slug = "too-many-requests"
    title = Text(de="Zu viele Anfragen", en="Too many requests")
    default_detail = Text(
        de="Zu viele Anfragen in kurzer Zeit. Bitte warten Sie und versuchen Sie es erneut.",
        en="Too many requests in a short time. Please wait and try again.",
    )

    def __init__(self, retry_after_seconds: int, detail: Text | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after_seconds))})


class InternalError(AppError):
    pass


class ServiceUnavailable(AppError):
    status = 503
    slug = "service-unavailable"
    title = Text(de="Dienst vorübergehend nicht verfügbar", en="Service temporarily unavailable")
    default_detail = Text(
        de="Der Dienst ist vorübergehend nicht verfügbar. Bitte versuchen Sie es später erneut.",
        en="The service is temporarily unavailable. Please try again later.",
    )

    def __init__(self, detail: Text | None = None, retry_after_seconds: int = 30) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


ERROR_FOR_STATUS: dict[int, type[AppError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        UnsupportedMediaType,
        ValidationFailed,
        PreconditionRequired,
        RequestTimeout,
        RequestHeaderFieldsTooLarge,
        TooManyRequests,
        InternalError,
        ServiceUnavailable,
    )
}
