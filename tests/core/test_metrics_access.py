"""/metrics is for the scraper's networks only, not for the internet."""

from __future__ import annotations

import httpx
import pytest

from app.core.db import Database
from app.main import create_app
from tests.conftest import make_settings


async def get_metrics(
    database_url: str,
    db: Database,
    peer: str,
    headers: dict[str, str] | None = None,
    **overrides: object,
) -> httpx.Response:
    app = create_app(make_settings(database_url, **overrides), database=db)
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/metrics", headers=headers)


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1"])
async def test_metrics_are_served_to_loopback_by_default(
    database_url: str, db: Database, peer: str
) -> None:
    response = await get_metrics(database_url, db, peer)

    assert response.status_code == 200
    assert "rathaus_http_requests_total" in response.text


async def test_metrics_are_not_found_from_the_internet(database_url: str, db: Database) -> None:
    response = await get_metrics(database_url, db, "203.0.113.9")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_metrics_through_an_untrusted_local_proxy_are_not_found(
    database_url: str, db: Database
) -> None:
    """A reverse proxy on the same machine is loopback to us; what it forwards is not."""
    response = await get_metrics(
        database_url, db, "127.0.0.1", headers={"X-Forwarded-For": "203.0.113.9"}
    )

    assert response.status_code == 404


@pytest.mark.parametrize(("forwarded_for", "status"), [("10.8.0.5", 200), ("203.0.113.9", 404)])
async def test_metrics_follow_the_allow_list_behind_a_trusted_proxy(
    database_url: str, db: Database, forwarded_for: str, status: int
) -> None:
    response = await get_metrics(
        database_url,
        db,
        "10.0.0.2",
        headers={"X-Forwarded-For": forwarded_for},
        trusted_proxies="10.0.0.2",
        metrics_allowed_networks="10.8.0.0/16",
    )

    assert response.status_code == status
