"""Sign-in: a login starts at a provider and comes back as a session with a one-time code.

`LoginService.start` keeps the login's state server-side and sends the browser to the
identity provider; `finish` consumes that state once (guarded UPDATE), re-checks what the
adapter returned, creates or updates the citizen account or staff user, and hands the
frontend a one-time code bound to its PKCE challenge.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.db import utcnow
from app.core.principal import LevelOfAssurance, Principal, PrincipalType
from app.identity.adapters.base import (
    FailureKind,
    IdentityFailure,
    LoginRequirements,
    LoginState,
    ProviderLogout,
    VerifiedIdentity,
)
from app.identity.attributes import Attribute
from app.identity.context import IdentityContext
from app.identity.errors import InvalidLoginState, ReturnToNotAllowed
from app.identity.models import CitizenAccount, CitizenAttribute, LoginAttempt, StaffUser
from app.identity.sessions import provider_of, revoke_session
from app.identity.staff import grants_from_groups, replace_grants
from app.identity.tokens import new_session_with_code

logger = structlog.get_logger("rathaus.identity")

MAX_SUBJECT_LENGTH = 255  # bPK2 and restrictedID are far shorter; longer is not a pseudonym
MAX_DISPLAY_NAME_LENGTH = 200
DEFAULT_ATTRIBUTES = frozenset({Attribute.family_names, Attribute.given_names})


def return_to_allowed(return_to: str, allowlist: Sequence[str]) -> bool:
    """Exact scheme and host, and a path under an allowed prefix; nothing that could redirect."""
    if len(return_to) > 500 or any(c in return_to for c in "\\\r\n\t "):
        return False
    try:
        target = urlsplit(return_to)
    except ValueError:  # an unbalanced IPv6 bracket, a host that NFKC-normalises to another
        return False
    if (
        target.scheme not in ("https", "http")
        or not target.netloc
        or target.username
        or target.password
    ):
        return False
    # Browsers resolve `..` (also as `%2e%2e`), which would climb out of an allowed path.
    if target.fragment or any(unquote(s) in (".", "..") for s in target.path.split("/")):
        return False
    for allowed in allowlist:
        prefix = urlsplit(allowed)
        if (target.scheme, target.netloc.lower()) != (prefix.scheme, prefix.netloc.lower()):
            continue
        base = prefix.path or "/"
        path = target.path or "/"
        if path == base.rstrip("/") or path.startswith(base if base.endswith("/") else base + "/"):
            return True
    return False


def _with_query(url: str, params: Mapping[str, str | None]) -> str:
    clean = {k: v for k, v in params.items() if v is not None}
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(clean)}"


def _failure_redirect(
    provider_id: str, return_to: str, failure: IdentityFailure, client_state: str | None
) -> str:
    """Back to the (already validated) frontend with an OAuth-style error and our reason.

    The log line says which check failed, for which provider (the request id comes with every
    line); reasons are our own fixed texts, never claims, tokens or personal data."""
    logger.warning(
        "auth.login_refused",
        provider=provider_id,
        kind=failure.kind.value,
        reason="".join(c for c in failure.reason[:200] if c.isprintable()),
    )
    error = (
        "temporarily_unavailable"
        if failure.kind is FailureKind.provider_unavailable
        else "access_denied"
    )
    return _with_query(
        return_to, {"error": error, "error_code": failure.kind.value, "state": client_state}
    )


class LoginService:
    async def start(
        self,
        session: AsyncSession,
        context: IdentityContext,
        *,
        provider_id: str,
        for_staff: bool,
        return_to: str,
        code_challenge: str,
        client_state: str | None,
        level: LevelOfAssurance,
        attributes: frozenset[Attribute],
        required_attributes: frozenset[Attribute],
    ) -> str:
        provider = context.registry.get(provider_id, for_staff=for_staff)
        if not return_to_allowed(return_to, context.settings.auth_return_to_allowlist):
            raise ReturnToNotAllowed()
        requested = (
            attributes | required_attributes | (frozenset() if for_staff else DEFAULT_ATTRIBUTES)
        )
        requirements = LoginRequirements(level, requested, required_attributes)
        ttl = timedelta(seconds=context.settings.login_ttl_seconds)
        try:
            begun = await provider.begin(
                requirements, context.callback_url(provider_id, for_staff=for_staff), ttl
            )
        except IdentityFailure as failure:
            return _failure_redirect(provider_id, return_to, failure, client_state)
        session.add(
            LoginAttempt(
                state=begun.state.state,
                provider=provider_id,
                nonce=begun.state.nonce,
                code_verifier=begun.state.code_verifier,
                redirect_uri=begun.state.redirect_uri,
                return_to=return_to,
                client_state=client_state,
                code_challenge=code_challenge,
                required_level=int(level),
                attributes=sorted(a.value for a in requested),
                required_attributes=sorted(a.value for a in required_attributes),
                expires_at=begun.state.expires_at,
            )
        )
        await session.flush()
        return begun.redirect_url

    async def finish(
        self,
        session: AsyncSession,
        context: IdentityContext,
        *,
        provider_id: str,
        for_staff: bool,
        callback: Mapping[str, str],
    ) -> str:
        """The URL to send the browser to: `return_to` with a one-time code, or with an error."""
        provider = context.registry.get(provider_id, for_staff=for_staff)
        attempt = await self._consume_attempt(session, provider_id, callback.get("state"))
        state = LoginState(
            state=attempt.state,
            nonce=attempt.nonce,
            code_verifier=attempt.code_verifier,
            expires_at=attempt.expires_at,
            redirect_uri=attempt.redirect_uri,
            started_at=attempt.created_at,
            requirements=LoginRequirements(
                LevelOfAssurance(attempt.required_level),
                frozenset(Attribute(a) for a in attempt.attributes),
                frozenset(Attribute(a) for a in attempt.required_attributes),
            ),
        )
        try:
            identity = await provider.complete(callback, state)
            _recheck(
                identity,
                state.requirements,
                provider.description.issuers,
                provider.description.max_level,
            )
            if for_staff:
                principal_id, level = await self._staff_signed_in(session, provider_id, identity)
                principal_type = PrincipalType.staff
            else:
                principal_id = await self._citizen_signed_in(
                    session, provider_id, identity, state.requirements
                )
                level, principal_type = identity.level, PrincipalType.citizen
        except IdentityFailure as failure:
            return _failure_redirect(provider_id, attempt.return_to, failure, attempt.client_state)
        code = await new_session_with_code(
            session,
            context,
            principal_type,
            principal_id,
            level,
            attempt.code_challenge,
            provider=provider_id,
            id_token=identity.id_token,
        )
        await record(
            session,
            action="auth.signed_in",
            object_type=principal_type.value,
            object_id=principal_id,
            actor=Principal(principal_type, principal_id).actor,
            summary={"provider": provider_id, "level": level.name if level else None},
        )
        return _with_query(attempt.return_to, {"code": code, "state": attempt.client_state})

    async def logout(
        self,
        session: AsyncSession,
        context: IdentityContext,
        principal: Principal,
        *,
        return_to: str | None,
        state: str | None,
    ) -> str | None:
        """End the caller's session here; where to send the browser to end the provider's
        login session too (OpenID Connect RP-initiated logout), if it keeps one."""
        if return_to is not None and not return_to_allowed(
            return_to, context.settings.auth_return_to_allowlist
        ):
            raise ReturnToNotAllowed()
        if principal.session_id is None:
            return None
        provider_id, sealed_hint = await provider_of(session, principal.session_id)
        await revoke_session(session, principal.session_id, "logout")
        await record(
            session,
            action="auth.signed_out",
            object_type=principal.type.value,
            object_id=principal.id,
        )
        provider = context.registry.providers.get(provider_id or "")
        if provider is None:
            return None
        hint = context.logout_hints.open(sealed_hint) if sealed_hint else None
        return await provider.end_session_url(ProviderLogout(hint, return_to, state))

    async def _consume_attempt(
        self, session: AsyncSession, provider_id: str, state: str | None
    ) -> LoginAttempt:
        if not state or len(state) > 100:
            raise InvalidLoginState()
        consumed = await session.execute(
            update(LoginAttempt)
            .where(
                LoginAttempt.state == state,
                LoginAttempt.provider == provider_id,
                LoginAttempt.consumed_at.is_(None),
                LoginAttempt.expires_at > utcnow(),
            )
            .values(consumed_at=utcnow())
            .returning(LoginAttempt.id)
        )
        attempt_id = consumed.scalar_one_or_none()
        if attempt_id is None:
            raise InvalidLoginState()
        attempt = await session.get(LoginAttempt, attempt_id)
        assert attempt is not None
        return attempt

    async def _citizen_signed_in(
        self,
        session: AsyncSession,
        provider_id: str,
        identity: VerifiedIdentity,
        requirements: LoginRequirements,
    ) -> uuid.UUID:
        account: CitizenAccount = await self._locked_account(
            session, CitizenAccount, provider_id, identity
        )
        account.level = int(identity.level)
        account.last_login_at = utcnow()
        for name, value in identity.attributes.items():
            if name not in requirements.attributes:
                continue
            await _store_attribute(
                session, account.id, name, value.value, value.level, value.verified
            )
        await session.flush()
        return account.id

    async def _staff_signed_in(
        self, session: AsyncSession, provider_id: str, identity: VerifiedIdentity
    ) -> tuple[uuid.UUID, LevelOfAssurance]:
        grants = await grants_from_groups(
            session, [group for group in identity.groups if group.isprintable()]
        )
        if not grants:
            raise IdentityFailure(FailureKind.missing_attribute, "no rathaus role in groups")
        user: StaffUser = await self._locked_account(session, StaffUser, provider_id, identity)
        if not user.is_active:
            raise IdentityFailure(FailureKind.not_permitted, "staff account disabled")
        user.display_name = _display_name(identity.display_name, user.display_name)
        email = identity.attributes.get(Attribute.email)
        user.email = str(email.value) if email else user.email
        user.last_login_at = utcnow()
        await replace_grants(session, user.id, grants)
        return user.id, identity.level

    async def _locked_account(
        self,
        session: AsyncSession,
        model: type[CitizenAccount] | type[StaffUser],
        provider_id: str,
        identity: VerifiedIdentity,
    ) -> Any:
        """The account, locked until commit: two sign-ins of one person then run one after the
        other instead of both inserting the same new attribute or role grant."""
        account = await _upsert_account(session, model, provider_id, identity)
        await session.refresh(account, with_for_update=True)
        return account


def _recheck(
    identity: VerifiedIdentity,
    requirements: LoginRequirements,
    issuers: frozenset[str],
    max_level: LevelOfAssurance,
) -> None:
    """Re-check what the adapter returned, so a faulty adapter cannot lower assurance."""
    if identity.issuer not in issuers:
        raise IdentityFailure(FailureKind.invalid_response, "issuer not allowed")
    if not identity.subject or len(identity.subject) > MAX_SUBJECT_LENGTH:
        raise IdentityFailure(FailureKind.invalid_response, "no subject, or an overlong one")
    if not identity.subject.isprintable():
        # A pseudonym is printable; NUL would not even fit a PostgreSQL text column.
        raise IdentityFailure(FailureKind.invalid_response, "subject with control characters")
    if identity.level < requirements.level or identity.level > max_level:
        raise IdentityFailure(FailureKind.insufficient_level, "level below requirement")
    missing = requirements.required_attributes - set(identity.attributes)
    if missing:
        raise IdentityFailure(FailureKind.missing_attribute, "required attribute missing")


def _display_name(*names: str | None) -> str:
    """The first of `names` with anything printable in it, without control characters (NUL
    does not fit a PostgreSQL column), cut to what the column holds."""
    for name in names:
        printable = " ".join("".join(c if c.isprintable() else " " for c in name or "").split())
        if printable:
            return printable[:MAX_DISPLAY_NAME_LENGTH]
    return "Mitarbeiter:in"


async def _upsert_account(
    session: AsyncSession,
    model: type[CitizenAccount] | type[StaffUser],
    provider_id: str,
    identity: VerifiedIdentity,
) -> Any:
    """Find the account by its pseudonym, or create it; safe when two logins race."""
    where = (
        model.provider == provider_id,
        model.issuer == identity.issuer,
        model.subject == identity.subject,
    )
    existing = await session.scalar(select(model).where(*where))
    if existing is not None:
        return existing
    values: dict[str, Any] = {
        "provider": provider_id,
        "issuer": identity.issuer,
        "subject": identity.subject,
    }
    if model is CitizenAccount:
        values["level"] = int(identity.level)
    else:
        values["display_name"] = _display_name(identity.display_name)
    try:
        async with session.begin_nested():
            account = model(**values)
            session.add(account)
        return account
    except IntegrityError:
        return await session.scalar(select(model).where(*where))


async def _store_attribute(
    session: AsyncSession,
    account_id: uuid.UUID,
    name: Attribute,
    value: Any,
    level: LevelOfAssurance,
    verified: bool,
) -> None:
    existing = await session.scalar(
        select(CitizenAttribute).where(
            CitizenAttribute.account_id == account_id, CitizenAttribute.name == name.value
        )
    )
    if existing is None:
        session.add(
            CitizenAttribute(
                account_id=account_id,
                name=name.value,
                value=value,
                level=int(level),
                verified=verified,
            )
        )
        return
    existing.value = value
    existing.level = int(level)
    existing.verified = verified
    existing.updated_at = utcnow()


login_service = LoginService()
