"""Declared state machines, each transition run as one guarded `UPDATE`.

An aggregate with a lifecycle (an integrator client, a mail delivery, later a booking, an
application, a payment) declares its transitions once as a table. `StateMachine.apply` then
performs one of them as

    UPDATE … SET status = :target, … WHERE id = :id AND status IN (:sources) RETURNING …

so that of two concurrent requests only one can move the row, and writes the audit entry and
the domain event in the same transaction. When the guard fails, the caller gets a 409 problem
naming the current status (or the aggregate's own 404 when there is no such row, or none the
caller may see).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import record
from app.core.db import Base, utcnow
from app.core.errors import AppError, Conflict, NotFound
from app.core.i18n import Text
from app.core.jobs.queue import emit

M = TypeVar("M", bound=Base)


class InvalidTransition(Conflict):
    slug = "invalid-state-transition"
    title = Text(de="Im aktuellen Status nicht möglich", en="Not possible in the current status")

    def __init__(self, current_status: str, label: Text | None = None) -> None:
        shown = label or Text(de=current_status, en=current_status)
        super().__init__(
            Text(
                de=f"Diese Aktion ist im Status „{shown.de}“ nicht möglich.",
                en=f"This action is not possible in the status “{shown.en}”.",
            ),
            extensions={"current_status": current_status},
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """`action` moves a row from any of `sources` to `target`."""

    action: str
    sources: frozenset[str]
    target: str

    @classmethod
    def of(cls, action: str, sources: Iterable[str], target: str) -> Transition:
        return cls(action, frozenset(sources), target)


class StateMachine(Generic[M]):
    """The allowed transitions of one aggregate, whose table has an `id` and a status column.

    A `version` column, if there is one, is incremented by every transition, and an
    `updated_at` column is set, so that ETags and `If-Match` see the change.
    """

    def __init__(
        self,
        aggregate: str,
        model: type[M],
        transitions: Iterable[Transition],
        *,
        not_found: type[AppError] = NotFound,
        status_column: str = "status",
        labels: Mapping[str, Text] | None = None,
        initial: str | None = None,
    ) -> None:
        self.aggregate = aggregate
        self.model = model
        self.not_found = not_found
        self.labels = dict(labels or {})
        self.initial = initial
        self._status = getattr(model, status_column)
        self._id = model.id  # type: ignore[attr-defined]
        self._versioned = hasattr(model, "version")
        self._timestamped = hasattr(model, "updated_at")
        self.transitions: dict[str, Transition] = {}
        for transition in transitions:
            if transition.action in self.transitions:
                raise ValueError(f"{aggregate}: action {transition.action!r} declared twice")
            self.transitions[transition.action] = transition

    @property
    def states(self) -> frozenset[str]:
        found = {self.initial} if self.initial else set()
        for transition in self.transitions.values():
            found |= transition.sources | {transition.target}
        return frozenset(found)

    def can(self, status: str, action: str) -> bool:
        return status in self.transitions[action].sources

    async def apply(
        self,
        session: AsyncSession,
        object_id: uuid.UUID,
        action: str,
        *,
        values: Mapping[str, Any] | None = None,
        where: Iterable[ColumnElement[bool]] = (),
        summary: Mapping[str, Any] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> M:
        """Perform `action` on the row `object_id`, or raise 409 / the aggregate's 404.

        `where` narrows the rows the caller may touch (its owner, its department); a row
        outside it is reported as not found, never as forbidden. `values` are written along
        with the status; `summary` goes to the audit entry and `payload` into the event.
        """
        transition = self.transitions[action]
        guard = [self._id == object_id, *where]
        changes: dict[str, Any] = {self._status.key: transition.target, **(values or {})}
        if self._versioned:
            changes["version"] = self.model.version + 1  # type: ignore[attr-defined]
        if self._timestamped:
            changes["updated_at"] = utcnow()
        moved = await session.scalar(
            update(self.model)
            .where(*guard, self._status.in_(sorted(transition.sources)))
            .values(changes)
            .returning(self.model)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
        if moved is None:
            raise await self._refusal(session, guard)
        await record(
            session,
            action=f"{self.aggregate}.{action}",
            object_type=self.aggregate,
            object_id=object_id,
            summary={"status": transition.target, **(summary or {})},
        )
        await emit(
            session,
            f"{self.aggregate}.{action}",
            aggregate_type=self.aggregate,
            aggregate_id=object_id,
            payload={"status": transition.target, **(payload or {})},
        )
        return moved

    async def _refusal(self, session: AsyncSession, guard: list[ColumnElement[bool]]) -> AppError:
        current = await session.scalar(select(self._status).where(*guard))
        if current is None:
            return self.not_found()
        return InvalidTransition(str(current), self.labels.get(str(current)))
