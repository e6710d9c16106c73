"""Reference numbers: readable, self-checking, forgiving to type, and unique within their kind."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.core.references import (
    ALPHABET,
    MAX_ATTEMPTS,
    READ_AS,
    ReferenceAllocationFailed,
    ReferenceKind,
    ReferenceNumber,
    ReferenceOf,
    allocate,
    parse,
)
from tests.conftest import client_for

# Prefixes no real domain would take, so that these kinds never clash with theirs.
BOOKING = ReferenceKind(name="test_booking", prefix="XT")
PAYMENT = ReferenceKind(name="test_payment", prefix="XK")
LOOK_ALIKES = ["0O", "1IL", "2Z", "5S", "8B", "UV"]
FORMAT = re.compile(rf"XT-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")
BODY_LENGTH = 8
"""Characters after the prefix that a person types: seven random ones and the check."""


def valid(kind: ReferenceKind, body: str) -> str:
    """The reference of `kind` whose first seven characters after the prefix are `body`."""
    return next(ref for c in ALPHABET if (ref := parse(kind, body + c)) is not None)


def compact(reference: str) -> str:
    return reference.replace("-", "")


def reference_with(fixed: dict[int, str], draw: random.Random) -> str:
    """A valid reference with the `fixed` characters at their positions after the prefix and
    random ones elsewhere. A fixed check character is reached by varying the first one."""
    assert 0 not in fixed or BODY_LENGTH - 1 not in fixed
    body = [draw.choice(ALPHABET) for _ in range(BODY_LENGTH - 1)]
    for position, character in fixed.items():
        if position < BODY_LENGTH - 1:
            body[position] = character
    check = fixed.get(BODY_LENGTH - 1)
    if check is None:
        return valid(BOOKING, "".join(body))
    rest = "".join(body[1:]) + check
    return next(ref for first in ALPHABET if (ref := parse(BOOKING, first + rest)) is not None)


def body_of(kind: ReferenceKind, reference: str) -> str:
    return compact(reference)[len(kind.prefix) :]


# Format and alphabet


async def test_allocated_reference_is_prefix_and_two_groups_of_four(session: AsyncSession) -> None:
    reference = await allocate(session, BOOKING)

    assert FORMAT.fullmatch(reference)
    assert parse(BOOKING, reference) == reference


def test_alphabet_keeps_one_character_of_each_look_alike_group() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET) == 29
    assert ALPHABET.upper() == ALPHABET
    for group in LOOK_ALIKES:
        assert len([c for c in group if c in ALPHABET]) == 1, group
    for typed, meant in READ_AS.items():
        assert typed not in ALPHABET
        assert meant in ALPHABET
        assert any(typed in group and meant in group for group in LOOK_ALIKES)


def test_example_of_a_kind_is_a_valid_reference() -> None:
    assert FORMAT.fullmatch(BOOKING.example)
    assert parse(BOOKING, BOOKING.example) == BOOKING.example


# The check character, exhaustively: every position, every pair of characters.


def test_exactly_one_check_character_fits_each_reference() -> None:
    draw = random.Random(20261201)
    for _ in range(300):
        body = "".join(draw.choices(ALPHABET, k=BODY_LENGTH - 1))

        fitting = [c for c in ALPHABET if parse(BOOKING, body + c) is not None]

        assert len(fitting) == 1, body


def single_errors() -> Iterator[tuple[str, str]]:
    """(reference, the same with one character typed wrong) for every position and pair."""
    draw = random.Random(20261202)
    for position in range(BODY_LENGTH):
        for right in ALPHABET:
            reference = reference_with({position: right}, draw)
            body = body_of(BOOKING, reference)
            for wrong in ALPHABET.replace(right, ""):
                yield reference, body[:position] + wrong + body[position + 1 :]


def neighbour_swaps() -> Iterator[tuple[str, str]]:
    """(reference, the same with two neighbours swapped) for every position and unequal pair."""
    draw = random.Random(20261203)
    for position in range(BODY_LENGTH - 1):
        for left in ALPHABET:
            for right in ALPHABET.replace(left, ""):
                reference = reference_with({position: left, position + 1: right}, draw)
                body = body_of(BOOKING, reference)
                yield reference, body[:position] + right + left + body[position + 2 :]


def test_every_single_wrong_character_is_refused() -> None:
    cases = list(single_errors())

    accepted = [typo for _, typo in cases if parse(BOOKING, typo) is not None]

    assert len(cases) == BODY_LENGTH * 29 * 28
    assert accepted == []


def test_every_swap_of_neighbouring_characters_is_refused() -> None:
    cases = list(neighbour_swaps())

    accepted = [typo for _, typo in cases if parse(BOOKING, typo) is not None]

    assert len(cases) == (BODY_LENGTH - 1) * 29 * 28
    assert all(parse(BOOKING, reference) == reference for reference, _ in cases)
    assert accepted == []


def test_reference_of_another_kind_is_refused_with_or_without_its_prefix() -> None:
    draw = random.Random(7)
    bookings = [valid(BOOKING, "".join(draw.choices(ALPHABET, k=7))) for _ in range(500)]

    assert [parse(PAYMENT, ref) for ref in bookings] == [None] * 500
    assert [parse(PAYMENT, body_of(BOOKING, ref)) for ref in bookings] == [None] * 500


# What people type


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("XT-08V2-5KQ{check}", id="as-printed"),
        pytest.param("xt-08v2-5kq{check}", id="lower-case"),
        pytest.param("XT08V25KQ{check}", id="no-hyphens"),
        pytest.param("XT 08V2 5KQ{check}", id="spaces"),
        pytest.param(" XT--08V2--5KQ{check} ", id="extra-hyphens-and-spaces"),
        pytest.param("XT\u201308V2\u20145KQ{check}", id="dashes-from-a-phone"),
        pytest.param("XT\u00a008V2\u00a05KQ{check}", id="non-breaking-spaces"),
        pytest.param("XT.08V2.5KQ{check}", id="dots"),
        pytest.param("XTO8U2SKQ{check}", id="letters-for-look-alike-digits"),
        pytest.param("xto8uzskq{check}", id="look-alikes-lower-case"),
        pytest.param("08V2-5KQ{check}", id="prefix-left-out"),
        pytest.param("08 v2 5k q{check}", id="prefix-left-out-lower-case"),
    ],
)
def test_what_a_person_types_is_read_as_the_reference(typed: str) -> None:
    reference = valid(BOOKING, "08V25KQ")
    check = reference[-1]

    assert parse(BOOKING, typed.format(check=check)) == reference


def test_look_alikes_are_read_as_their_digit_or_letter() -> None:
    reference = valid(BOOKING, "0125800")
    check = reference[-1]

    for typed in ("XT-OIZS-BOO", "XT-0LZ5-800", "XT-olz5-b00"):
        assert parse(BOOKING, typed + check) == reference
    assert parse(BOOKING, "XT-UUUU-UUU" + valid(BOOKING, "VVVVVVV")[-1]) == valid(
        BOOKING, "VVVVVVV"
    )


@pytest.mark.parametrize(
    "typed",
    [
        pytest.param("", id="empty"),
        pytest.param("XT", id="prefix-only"),
        pytest.param("XT-08V2-5KQ", id="check-missing"),
        pytest.param("XT-08V2-5KQ00", id="one-too-many"),
        pytest.param("XT-08V2-5K!0", id="punctuation"),
        pytest.param("XT-08V2-5KÄ0", id="umlaut"),
        pytest.param("XT-" + "0" * 70, id="very-long"),
        pytest.param("XK-08V2-5KQ0", id="other-prefix"),
    ],
)
def test_text_that_cannot_be_a_reference_is_refused(typed: str) -> None:
    assert parse(BOOKING, typed) is None


# Declaring kinds


@pytest.mark.parametrize(
    ("name", "prefix"),
    [
        pytest.param("Booking", "XQ", id="upper-case-name"),
        pytest.param("booking-x", "XQ", id="hyphen-in-name"),
        pytest.param("test_other", "XB", id="look-alike-in-prefix"),
        pytest.param("test_other", "X1", id="digit-in-prefix"),
        pytest.param("test_other", "XQRT", id="prefix-too-long"),
        pytest.param("test_other", "", id="no-prefix"),
        pytest.param("test_other", "xq", id="lower-case-prefix"),
        pytest.param("test_other", "XT", id="prefix-of-another-kind"),
        pytest.param("test_booking", "XQ", id="name-of-another-kind"),
    ],
)
def test_kind_that_would_mislead_is_refused_at_declaration(name: str, prefix: str) -> None:
    with pytest.raises(ValueError, match="reference"):
        ReferenceKind(name=name, prefix=prefix)


def test_declaring_the_same_kind_again_is_harmless() -> None:
    assert ReferenceKind(name="test_booking", prefix="XT") == BOOKING


# Unique within the kind, enforced by the database


async def stored(session: AsyncSession, kind: ReferenceKind) -> list[str]:
    values = await session.scalars(
        select(ReferenceNumber.value).where(ReferenceNumber.kind == kind.name)
    )
    return list(values)


async def test_drawing_a_taken_reference_draws_again(session: AsyncSession) -> None:
    first = await allocate(session, BOOKING, random_source=random.Random(7))

    second = await allocate(session, BOOKING, random_source=random.Random(7))

    assert second != first
    assert parse(BOOKING, second) == second
    assert sorted(await stored(session, BOOKING)) == sorted([first, second])


async def test_the_same_draw_in_another_kind_is_no_collision(session: AsyncSession) -> None:
    booking = await allocate(session, BOOKING, random_source=random.Random(7))

    payment = await allocate(session, PAYMENT, random_source=random.Random(7))

    assert body_of(PAYMENT, payment)[:7] == body_of(BOOKING, booking)[:7]


async def test_allocation_gives_up_after_max_attempts_and_the_transaction_goes_on(
    session: AsyncSession,
) -> None:
    taken = [
        await allocate(session, BOOKING, random_source=random.Random(7))
        for _ in range(MAX_ATTEMPTS)
    ]

    with pytest.raises(ReferenceAllocationFailed) as failure:
        await allocate(session, BOOKING, random_source=random.Random(7))

    assert failure.value.kind == BOOKING
    assert failure.value.status == 500
    assert len(set(taken)) == MAX_ATTEMPTS
    fresh = await allocate(session, BOOKING, random_source=random.Random(8))
    assert sorted(await stored(session, BOOKING)) == sorted([*taken, fresh])


async def test_rolled_back_allocation_frees_the_reference(db: Database) -> None:
    drawn: list[str] = []

    async def failing_booking() -> None:
        async with db.transaction() as session:
            drawn.append(await allocate(session, BOOKING, random_source=random.Random(7)))
            raise RuntimeError("the booking failed")

    with pytest.raises(RuntimeError):
        await failing_booking()

    async with db.transaction() as session:
        again = await allocate(session, BOOKING, random_source=random.Random(7))
        assert again == drawn[0]
        assert await stored(session, BOOKING) == [again]


SHARED_SEEDS = 6
TASKS_PER_SEED = MAX_ATTEMPTS
RANDOM_TASKS = 20


async def test_concurrent_allocations_are_all_distinct(committed_db: Database) -> None:
    """Tasks sharing a seed draw the same references in the same order, at the same time:
    each must end up with its own, and every reference is recorded once."""

    async def allocate_one(random_source: random.Random | None) -> str:
        async with committed_db.transaction() as session:
            return await allocate(session, BOOKING, random_source=random_source)

    sources = [random.Random(seed) for seed in range(SHARED_SEEDS) for _ in range(TASKS_PER_SEED)]
    sources += [None] * RANDOM_TASKS

    references = await asyncio.gather(*(allocate_one(source) for source in sources))

    async with committed_db.transaction(read_only=True) as session:
        recorded = await stored(session, BOOKING)
    assert len(set(references)) == len(references) == len(sources)
    assert sorted(recorded) == sorted(references)


# As a request parameter


reference_router = APIRouter()


@reference_router.get("/test-bookings/{reference}")
async def get_test_booking(reference: Annotated[str, ReferenceOf(BOOKING)]) -> dict[str, str]:
    return {"reference": reference}


@pytest.fixture
async def reference_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(reference_router)
    async with client_for(app) as client:
        yield client


async def test_path_parameter_arrives_normalised(reference_client: httpx.AsyncClient) -> None:
    reference = valid(BOOKING, "08V25KQ")

    response = await reference_client.get(f"/test-bookings/xto8u2skq{reference[-1].lower()}")

    assert response.status_code == 200
    assert response.json() == {"reference": reference}


@pytest.mark.parametrize(
    ("language", "detail"),
    [
        ("de", f"Das ist keine gültige Referenznummer. Sie sieht so aus: {BOOKING.example}"),
        ("en", f"This is not a valid reference number. It looks like this: {BOOKING.example}"),
    ],
)
async def test_invalid_reference_gets_422_saying_what_one_looks_like(
    reference_client: httpx.AsyncClient, language: str, detail: str
) -> None:
    typo = body_of(BOOKING, BOOKING.example)[::-1]

    response = await reference_client.get(
        f"/test-bookings/{typo}", headers={"Accept-Language": language}
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [{"pointer": "#/path/reference", "detail": detail}]


def test_openapi_shows_an_example_reference() -> None:
    app = FastAPI()
    app.include_router(reference_router)

    parameter = app.openapi()["paths"]["/test-bookings/{reference}"]["get"]["parameters"][0]

    assert parameter["schema"]["examples"] == [BOOKING.example]
