"""`/docs` (Swagger UI) and `/redoc` (ReDoc), served with pinned assets from the app itself.

A city intranet often cannot reach a CDN, so nothing here loads from anywhere but this
service: the pages, their scripts (no inline script) and styles, and the contract at
`/openapi.json`. The content security policy for these paths allows just that.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response

from app.core.errors import NotFound

ASSETS = Path(__file__).with_name("docs_assets")
ASSET_PATH = "/docs/assets"
SWAGGER_UI_VERSION = "5.32.0"
REDOC_VERSION = "2.5.1"

DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)

_MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

# Started from a file, not inline, so the policy needs no 'unsafe-inline' for scripts.
_SWAGGER_INIT = """\
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: document.body.dataset.openapi,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
"""
_REDOC_INIT = """\
window.addEventListener("load", function () {
  Redoc.init(document.body.dataset.openapi, {}, document.getElementById("redoc"));
});
"""


def _page(title: str, openapi_url: str, container: str, scripts: list[str], css: str = "") -> str:
    style = f'<link rel="stylesheet" href="{ASSET_PATH}/{css}">' if css else ""
    tags = "\n".join(f'<script src="{ASSET_PATH}/{name}"></script>' for name in scripts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" type="image/png" href="{ASSET_PATH}/favicon-32x32.png">
{style}
</head>
<body data-openapi="{escape(openapi_url)}">
<main id="{container}"></main>
{tags}
</body>
</html>
"""


def install_docs(app: FastAPI, openapi_url: str = "/openapi.json") -> None:
    """Add the two documentation pages and their assets (create the app with
    `docs_url=None, redoc_url=None`)."""
    swagger = _page(
        f"{app.title} – Swagger UI",
        openapi_url,
        "swagger-ui",
        ["swagger-ui-bundle.js", "swagger-init.js"],
        css="swagger-ui.css",
    )
    redoc = _page(
        f"{app.title} – ReDoc", openapi_url, "redoc", ["redoc.standalone.js", "redoc-init.js"]
    )
    files = {name: (ASSETS / name).read_bytes() for name in _MEDIA_TYPES}
    files["swagger-init.js"] = _SWAGGER_INIT.encode()
    files["redoc-init.js"] = _REDOC_INIT.encode()
    media_types = {
        **_MEDIA_TYPES,
        "swagger-init.js": "text/javascript; charset=utf-8",
        "redoc-init.js": "text/javascript; charset=utf-8",
    }

    async def swagger_ui() -> HTMLResponse:
        return HTMLResponse(swagger)

    async def redoc_page() -> HTMLResponse:
        return HTMLResponse(redoc)

    async def asset(name: str) -> Response:
        body = files.get(name)
        if body is None:
            raise NotFound()
        return Response(
            body,
            media_type=media_types[name],
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.add_api_route("/docs", swagger_ui, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route("/redoc", redoc_page, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(
        ASSET_PATH + "/{name}", asset, methods=["GET", "HEAD"], include_in_schema=False
    )
