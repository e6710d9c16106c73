"""`/docs` and `/redoc` work without internet: every asset comes from the app, pinned."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

PINNED = {
    "swagger-ui-bundle.js": "d9bbb469128e88a974c78e76457c3910babb4649447d901af19a60335a09ee1e",
    "swagger-ui.css": "b024df29b02b4943bf95cb835fce9d19d4559c14e374b0dd36a89b27a223a2da",
    "redoc.standalone.js": "2d8d13e94b5a21011cc6f8260d87ca475d0f6f2faed16dd12e7394dfa3bb05b8",
    "favicon-32x32.png": "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837",
}


def referenced(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_loads_nothing_from_outside(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = referenced(response.text)
    assert urls
    assert all(url.startswith("/docs/assets/") for url in urls), urls
    assert "<script>" not in response.text
    csp = response.headers["content-security-policy"]
    assert "http" not in csp
    assert "script-src 'self';" in csp
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].split("/")[0] in ("text", "image"), url


async def test_assets_are_the_pinned_releases(client: httpx.AsyncClient) -> None:
    for name, digest in PINNED.items():
        response = await client.get(f"/docs/assets/{name}")
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == digest, name
        assert "max-age" in response.headers["cache-control"]


async def test_the_pages_point_at_the_served_contract(client: httpx.AsyncClient) -> None:
    swagger = await client.get("/docs")
    contract = await client.get("/openapi.json")

    assert 'data-openapi="/openapi.json"' in swagger.text
    assert contract.status_code == 200
    assert contract.json()["info"]["title"] == "Digitales Rathaus API"


async def test_an_unknown_asset_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs/assets/evil.js")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
