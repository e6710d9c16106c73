"""Conditional GETs for answers computed per request: an ETag over the body, 304 for a
matching `If-None-Match`, and a short `Cache-Control` lifetime.

Unlike the version ETags of `app.core.concurrency`, these describe a representation, not an
editable resource: a client or cache that sends the last one back gets 304 without the body
while nothing changed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Depends, Header, Response

from app.core.openapi import header_refs

NOT_MODIFIED_DESCRIPTION = (
    "Not modified: the answer is the one whose ETag was sent in `If-None-Match`."
)


async def if_none_match_header(
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="ETags of answers the client already has; a match gives 304 without "
            "a body.",
        ),
    ] = None,
) -> str | None:
    return if_none_match


IfNoneMatchHeader = Annotated[str | None, Depends(if_none_match_header)]


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


def cached_responses() -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route answered by `cached_json`."""
    return {
        200: {"headers": header_refs("ETag", "Cache-Control")},
        304: {
            "description": NOT_MODIFIED_DESCRIPTION,
            "headers": header_refs("ETag", "Cache-Control"),
        },
    }
