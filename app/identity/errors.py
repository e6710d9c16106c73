from __future__ import annotations

from app.core.errors import BadRequest, Conflict, InputRefused, NotFound, Unauthorized
from app.core.i18n import Text


class UnknownProvider(NotFound):
    slug = "unknown-identity-provider"
    title = Text(de="Anmeldeverfahren unbekannt", en="Unknown sign-in provider")
    default_detail = Text(
        de="Dieses Anmeldeverfahren ist nicht verfügbar.",
        en="This sign-in provider is not available.",
    )


class ReturnToNotAllowed(BadRequest):
    slug = "return-to-not-allowed"
    title = Text(de="Rücksprungadresse nicht erlaubt", en="Return address not allowed")
    default_detail = Text(
        de="Die angegebene Rücksprungadresse (return_to) ist nicht freigegeben.",
        en="The given return address (return_to) is not on the allow-list.",
    )


class InvalidLoginState(BadRequest):
    slug = "invalid-login-state"
    title = Text(de="Anmeldung ungültig oder abgelaufen", en="Sign-in invalid or expired")
    default_detail = Text(
        de="Dieser Anmeldevorgang ist unbekannt, abgelaufen oder wurde bereits verwendet. "
        "Bitte beginnen Sie die Anmeldung neu.",
        en="This sign-in is unknown, expired or was already used. Please start again.",
    )


class InvalidGrant(BadRequest):
    """RFC 6749 §5.2 `invalid_grant`, as a problem with the OAuth error code as extension."""

    slug = "invalid-grant"
    title = Text(de="Ungültige Berechtigung", en="Invalid grant")
    default_detail = Text(
        de="Der Code oder das Token ist ungültig, abgelaufen oder wurde bereits verwendet.",
        en="The code or token is invalid, expired or was already used.",
    )

    def __init__(self, detail: Text | None = None, *, keeps_changes: bool = False) -> None:
        super().__init__(detail, extensions={"error": "invalid_grant"}, keeps_changes=keeps_changes)


class InvalidClient(Unauthorized):
    slug = "invalid-client"
    title = Text(de="Client-Anmeldung fehlgeschlagen", en="Client authentication failed")
    default_detail = Text(
        de="Client-ID oder Client-Geheimnis sind falsch, oder der Client ist gesperrt.",
        en="The client id or secret is wrong, or the client is disabled.",
    )

    def __init__(self) -> None:
        super().__init__(
            headers={"WWW-Authenticate": 'Basic realm="rathaus"'},
            extensions={"error": "invalid_client"},
        )


class UnsupportedGrantType(BadRequest):
    slug = "unsupported-grant-type"
    title = Text(de="Nicht unterstützter grant_type", en="Unsupported grant_type")
    default_detail = Text(
        de="Erlaubt sind authorization_code, refresh_token und client_credentials.",
        en="Allowed are authorization_code, refresh_token and client_credentials.",
    )

    def __init__(self) -> None:
        super().__init__(extensions={"error": "unsupported_grant_type"})


class InvalidScope(BadRequest):
    slug = "invalid-scope"
    title = Text(de="Ungültiger scope", en="Invalid scope")
    default_detail = Text(
        de="Der angefragte scope ist diesem Client nicht erlaubt.",
        en="The requested scope is not granted to this client.",
    )

    def __init__(self) -> None:
        super().__init__(extensions={"error": "invalid_scope"})


class ClientNotFound(NotFound):
    slug = "client-not-found"
    title = Text(de="Client nicht gefunden", en="Client not found")
    default_detail = Text(
        de="Einen Client mit dieser Kennung gibt es nicht.", en="There is no client with this id."
    )


class SessionNotFound(NotFound):
    slug = "session-not-found"
    title = Text(de="Sitzung nicht gefunden", en="Session not found")
    default_detail = Text(
        de="Eine Sitzung mit dieser Kennung gibt es in Ihrem Konto nicht.",
        en="There is no session with this id in your account.",
    )


class StaffUserNotFound(NotFound):
    slug = "staff-user-not-found"
    title = Text(de="Mitarbeiter:in nicht gefunden", en="Staff user not found")
    default_detail = Text(
        de="Eine:n Mitarbeiter:in mit dieser Kennung gibt es nicht.",
        en="There is no staff user with this id.",
    )


class CannotDisableYourself(Conflict):
    slug = "cannot-disable-yourself"
    title = Text(de="Eigenes Konto", en="Your own account")
    default_detail = Text(
        de="Sie können Ihr eigenes Konto nicht sperren; bitten Sie eine andere Administratorin "
        "oder einen anderen Administrator.",
        en="You cannot disable your own account; ask another administrator.",
    )


class _ClientInputRefused(InputRefused):
    """A client the administrator described but that cannot be made."""

    pointer = "#/branch_id"


class ClientBranchRequired(_ClientInputRefused):
    slug = "client-branch-required"
    title = Text(de="Standort fehlt", en="Branch required")
    default_detail = Text(
        de="Ein Client mit appointments:tickets (ein Ticketautomat) gehört zu genau einem "
        "Standort: geben Sie branch_id an.",
        en="A client with appointments:tickets (a ticket kiosk) belongs to exactly one "
        "branch: give branch_id.",
    )
