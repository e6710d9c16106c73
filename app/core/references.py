"""Reference numbers citizens read, say on the phone and type into forms: `T-4KQ7-M9X8`.

A reference is a kind's prefix, seven random characters and one check character, grouped in
fours. The alphabet keeps one character of each look-alike group and reads the others as
that one: the digits 0, 1, 2, 5 and 8 stay, so a typed O counts as 0, I and L as 1, Z as 2,
S as 5 and B as 8; V stays and U counts as V. That leaves 29 characters, a prime, which is
what lets the check character catch every single wrong character and every swap of two
neighbours (see `_checksum`).

A domain declares its kind, e.g. `BOOKING = ReferenceKind(name="booking", prefix="T")`, and
calls `allocate` inside its own transaction; core knows no kinds. References are drawn from
`secrets`, so nobody can guess their neighbours, and `reference_numbers` keeps each one unique
within its kind.
"""

from __future__ import annotations

import hashlib
import random
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from sqlalchemy import String
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, utcnow
from app.core.errors import InternalError
from app.core.i18n import Text

ALPHABET = "0123456789ACDEFGHJKMNPQRTVWXY"
READ_AS = {"O": "0", "I": "1", "L": "1", "Z": "2", "S": "5", "B": "8", "U": "V"}
RANDOM_LENGTH = 7
GROUP_LENGTH = 4
MAX_ATTEMPTS = 5
MAX_INPUT_LENGTH = 64
"""Longer input is refused before any work: nobody types a reference that long."""

_VALUES = {character: value for value, character in enumerate(ALPHABET)}
_MODULUS = len(ALPHABET)
_RADIX = 2
_READ_AS_TABLE = str.maketrans(READ_AS)
# Whitespace (also non-breaking), hyphens and the dashes phones substitute for them, dots.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.]+")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_SYSTEM_RANDOM = secrets.SystemRandom()


class ReferenceNumber(Base):
    """Every reference ever handed out, so that none is handed out twice within its kind."""

    __tablename__ = "reference_numbers"

    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(20), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferenceAllocationFailed(InternalError):
    """Every attempt drew a reference already taken: the kind's space is close to full."""

    default_detail = Text(
        de="Es konnte keine Referenznummer vergeben werden. Bitte versuchen Sie es erneut.",
        en="No reference number could be assigned. Please try again.",
    )

    def __init__(self, kind: ReferenceKind) -> None:
        super().__init__()
        self.kind = kind


@dataclass(frozen=True, slots=True)
class ReferenceKind:
    """What a reference refers to, declared once by the domain that hands it out.

    `name` is stored with every reference and must never change once references exist.
    `prefix` (one to three letters of the alphabet) tells citizens and clerks what the
    reference is for. Two kinds may share neither.
    """

    name: str
    prefix: str

    _declared: ClassVar[dict[str, ReferenceKind]] = {}

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"reference kind name {self.name!r}: use a-z, 0-9 and _")
        if not 1 <= len(self.prefix) <= 3 or not all(
            c in _VALUES and c.isalpha() for c in self.prefix
        ):
            raise ValueError(
                f"reference prefix {self.prefix!r}: one to three of the letters {ALPHABET[10:]}"
            )
        keys = (f"name:{self.name}", f"prefix:{self.prefix}")
        for key in keys:
            taken = self._declared.get(key, self)
            if taken != self:
                raise ValueError(f"reference kind {self} clashes with {taken}")
        self._declared.update(dict.fromkeys(keys, self))

    @property
    def example(self) -> str:
        """A well-formed reference of this kind for documentation and error messages."""
        digest = hashlib.sha256(self.name.encode()).digest()
        return _with_check(
            self.prefix, "".join(ALPHABET[b % _MODULUS] for b in digest[:RANDOM_LENGTH])
        )


async def allocate(
    session: AsyncSession, kind: ReferenceKind, *, random_source: random.Random | None = None
) -> str:
    """A new reference of `kind`, recorded in the session's transaction.

    It is unique within its kind for good: a rollback frees it again, a commit keeps it.
    `random_source` is for tests that need a predictable draw.
    """
    draw = random_source or _SYSTEM_RANDOM
    for _ in range(MAX_ATTEMPTS):
        body = "".join(draw.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
        reference = _with_check(kind.prefix, body)
        if await _record(session, kind, reference):
            return reference
    raise ReferenceAllocationFailed(kind)


async def _record(session: AsyncSession, kind: ReferenceKind, reference: str) -> bool:
    """Insert unless taken; a collision inserts nothing and leaves the transaction usable."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(ReferenceNumber)
        .values(kind=kind.name, value=reference)
        .on_conflict_do_nothing(index_elements=["kind", "value"])
        .returning(ReferenceNumber.value)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


def parse(kind: ReferenceKind, text: str) -> str | None:
    """The reference a person meant, as `allocate` wrote it; None if it cannot be one.

    Case, spaces, hyphens and the look-alikes in `READ_AS` do not matter, and the prefix
    may be left out. The check character must fit.
    """
    if len(text) > MAX_INPUT_LENGTH:
        return None
    compact = _SEPARATORS.sub("", text).upper().translate(_READ_AS_TABLE)
    if len(compact) == RANDOM_LENGTH + 1:
        compact = kind.prefix + compact
    if len(compact) != len(kind.prefix) + RANDOM_LENGTH + 1 or not compact.startswith(kind.prefix):
        return None
    if any(c not in _VALUES for c in compact) or _checksum(compact) != 0:
        return None
    return _grouped(kind.prefix, compact[len(kind.prefix) :])


def _checksum(characters: str) -> int:
    """Σ vᵢ·2ⁿ⁻ⁱ mod 29 over the character values; a valid reference sums to 0.

    29 is prime and 2 is neither 0 nor 1 modulo 29. A wrong character changes the sum by
    2ᵏ·(v′−v), two swapped neighbours by 2ᵏ·(2−1)·(v−w): never a multiple of 29 when
    v′≠v and w≠v, so neither error goes unnoticed.
    """
    total = 0
    for character in characters:
        total = (total * _RADIX + _VALUES[character]) % _MODULUS
    return total


def _with_check(prefix: str, body: str) -> str:
    check = -_checksum(prefix + body) * _RADIX % _MODULUS
    return _grouped(prefix, body + ALPHABET[check])


def _grouped(prefix: str, characters: str) -> str:
    groups = [characters[i : i + GROUP_LENGTH] for i in range(0, len(characters), GROUP_LENGTH)]
    return "-".join([prefix, *groups])


@dataclass(frozen=True, slots=True)
class ReferenceOf:
    """`Annotated[str, ReferenceOf(BOOKING)]`: a path, query or body value that must be a
    reference of that kind. It arrives normalised by `parse`; anything else gets a 422."""

    kind: ReferenceKind

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["examples"] = [self.kind.example]
        return json_schema

    def _validate(self, text: str) -> str:
        reference = parse(self.kind, text)
        if reference is None:
            raise PydanticCustomError(
                "reference_invalid",
                "Not a valid reference number; it looks like {example}.",
                {"example": self.kind.example},
            )
        return reference
