"""Conditional GETs for answers computed per request: an ETag over the body, 304 for a
matching `If-None-Match`, and a short `Cache-Control` lifetime; and answers encoded once
(`EncodedAnswer`, with a gzip copy) kept per process (`AnswerCache`) for as long as their
caller's version check says they are right.

Unlike the version ETags of `app.core.concurrency`, these describe a representation, not an
editable resource: a client or cache that sends the last one back gets 304 without the body
while nothing changed.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header, Response

from app.core.offload import run_cpu_bound
from app.core.openapi import header_refs

NOT_MODIFIED_DESCRIPTION = (
    "Not modified: the answer is the one whose ETag was sent in `If-None-Match`."
)


IfNoneMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        description="ETags of answers the client already has; a match gives 304 without a body.",
    ),
]
"""A route parameter rather than a dependency: on the hottest reads, every dependency costs
more than the work of a kept answer."""


def _matches(if_none_match: str | None, tag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2): `W/` does not matter, `*` matches anything."""
    if if_none_match is None:
        return False
    sent = {part.strip().removeprefix("W/") for part in if_none_match.split(",")}
    return "*" in sent or tag in sent


def cached_json(content: Any, *, if_none_match: str | None, max_age_seconds: int) -> Response:
    """`content` as JSON with its ETag, or 304 when the client has it already."""
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return cached_body(
        body,
        media_type="application/json",
        if_none_match=if_none_match,
        max_age_seconds=max_age_seconds,
    )


def cached_body(
    body: bytes, *, media_type: str, if_none_match: str | None, max_age_seconds: int
) -> Response:
    """`body` with its ETag, or 304 when the client has it already."""
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": f"public, max-age={max_age_seconds}"}
    if _matches(if_none_match, tag):
        return Response(status_code=304, headers=headers)
    return Response(content=body, media_type=media_type, headers=headers)


def cached_responses(*, compressible: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route answered by `cached_json`, or, `compressible`, by
    `EncodedAnswer.response`."""
    names = ("ETag", "Cache-Control", "Vary") if compressible else ("ETag", "Cache-Control")
    success = (*names, "Content-Encoding") if compressible else names
    return {
        200: {"headers": header_refs(*success)},
        304: {"description": NOT_MODIFIED_DESCRIPTION, "headers": header_refs(*names)},
    }


GZIP_LEVEL = 6
GZIP_MIN_BYTES = 1024
"""Smaller answers are sent as they are: compressing them gains a few bytes at most."""


def accepts_gzip(accept_encoding: str | None) -> bool:
    """Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3): named, or `*`, with a
    weight above 0."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for part in accept_encoding.split(","):
        coding, _, params = part.partition(";")
        weight = 1.0
        name, _, value = params.partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value)
            except ValueError:
                weight = 0.0
        weights[coding.strip().lower()] = weight
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, GZIP_LEVEL, mtime=0)


@dataclass(frozen=True, slots=True)
class EncodedAnswer:
    """A JSON answer encoded once, with its ETag and a gzip-compressed copy, to be sent as
    often as it stays right."""

    body: bytes
    gzipped: bytes | None
    """None for a body too small to gain from compression."""
    tag: str

    @property
    def gzip_tag(self) -> str:
        """The compressed copy is another representation, so it has a tag of its own."""
        return self.tag[:-1] + '-gzip"'

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")

    def response(
        self, *, if_none_match: str | None, accept_encoding: str | None, max_age_seconds: int
    ) -> Response:
        """As `cached_json` would answer, compressed when the client accepts gzip; 304 for
        either representation's tag."""
        gzipped = self.gzipped if accepts_gzip(accept_encoding) else None
        headers = {
            "ETag": self.tag if gzipped is None else self.gzip_tag,
            "Cache-Control": f"public, max-age={max_age_seconds}",
        }
        if self.gzipped is not None:
            headers["Vary"] = "Accept-Encoding"
        if _matches(if_none_match, self.tag) or _matches(if_none_match, self.gzip_tag):
            return Response(status_code=304, headers=headers)
        if gzipped is None:
            return Response(content=self.body, media_type="application/json", headers=headers)
        headers["Content-Encoding"] = "gzip"
        return Response(content=gzipped, media_type="application/json", headers=headers)


async def encode_answer(content: Any) -> EncodedAnswer:
    """`content` as JSON and its ETag, as `cached_json` makes them, and, from
    `GZIP_MIN_BYTES` on, gzip-compressed off the event loop (zlib lets go of the interpreter
    lock)."""
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    gzipped = await run_cpu_bound(_gzip, body) if len(body) >= GZIP_MIN_BYTES else None
    return EncodedAnswer(body, gzipped, tag)


@dataclass(slots=True)
class CachedAnswer:
    """An answer kept for reuse: right from `computed_at` until `valid_until`, as long as
    the data it was computed from is still at `version` (the caller's notion)."""

    answer: EncodedAnswer
    version: int
    scope: tuple[Any, ...]
    computed_at: datetime
    valid_until: datetime

    def current_at(self, now: datetime) -> bool:
        return self.computed_at <= now < self.valid_until


class AnswerCache:
    """Answers kept per process, least recently used first out beyond `max_bytes`.

    It only stores: whether an entry may still be sent is the caller's check (its time
    bounds and its version)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[Hashable, CachedAnswer] = OrderedDict()
        self._bytes = 0

    def get(self, key: Hashable) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: Hashable, entry: CachedAnswer) -> None:
        self.discard(key)
        if entry.answer.size > self.max_bytes:
            return
        self._entries[key] = entry
        self._bytes += entry.answer.size
        while self._bytes > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self._bytes -= oldest.answer.size

    def discard(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.answer.size
