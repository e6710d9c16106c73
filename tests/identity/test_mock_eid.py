"""The mock eID page: accessible, complete, and never available in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.core.config import Settings, UnsafeProductionSettings
from app.core.db import Database
from app.identity.jwt import generate_private_pem
from app.main import create_app
from tests.conftest import client_for, make_settings, run_cli
from tests.core.test_config import SAFE_PRODUCTION
from tests.fixtures.auth import RETURN_TO, Pkce, authorize

PERSONAS = {"erika", "jonas", "mia", "ayse", "lukas"}
VOID_ELEMENTS = frozenset({"input", "meta", "link", "br", "hr", "img"})


class PageOutline(HTMLParser):
    """What a screen reader user meets on the page: structure, labels, controls."""

    def __init__(self) -> None:
        super().__init__()
        self.html_lang: str | None = None
        self.title = ""
        self.h1_count = 0
        self.script_count = 0
        self.legends_in_fieldsets = 0
        self.forms: list[dict[str, str | None]] = []
        self.radios: dict[str, str] = {}
        self.radio_names: set[str] = set()
        self.hidden: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.buttons: list[str] = []
        self._open: list[str] = []
        self._label_for: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.html_lang = attributes.get("lang")
        elif tag == "h1":
            self.h1_count += 1
        elif tag == "script":
            self.script_count += 1
        elif tag == "form":
            self.forms.append(attributes)
        elif tag == "legend" and "fieldset" in self._open:
            self.legends_in_fieldsets += 1
        elif tag == "label":
            self._label_for = attributes.get("for") or ""
            self.labels[self._label_for] = ""
        elif tag == "button":
            self.buttons.append("")
        elif tag == "input":
            self._input(attributes)
        if tag not in VOID_ELEMENTS:
            self._open.append(tag)

    def _input(self, attributes: dict[str, str | None]) -> None:
        if attributes.get("type") == "radio":
            self.radios[attributes.get("id") or ""] = attributes.get("value") or ""
            self.radio_names.add(attributes.get("name") or "")
        elif attributes.get("type") == "hidden":
            self.hidden[attributes.get("name") or ""] = attributes.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass
        if tag == "label":
            self._label_for = None

    def handle_data(self, data: str) -> None:
        if "title" in self._open:
            self.title += data
        if "label" in self._open and self._label_for is not None:
            self.labels[self._label_for] += data
        if "button" in self._open:
            self.buttons[-1] += data


async def open_page(client: httpx.AsyncClient) -> tuple[httpx.Response, PageOutline]:
    """Start a citizen sign-in and follow it to the mock eID page."""
    start = await client.get(
        "/api/v1/auth/mock-eid/login",
        params={"return_to": RETURN_TO, "code_challenge": Pkce.new().challenge},
    )
    assert start.status_code == 303, start.text
    location = urlsplit(start.headers["location"])
    page = await client.get(f"{location.path}?{location.query}")
    outline = PageOutline()
    outline.feed(page.text)
    return page, outline


async def test_mock_eid_page_is_accessible_html(client: httpx.AsyncClient) -> None:
    page, outline = await open_page(client)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert outline.html_lang == "de"
    assert outline.title.strip()
    assert outline.h1_count == 1
    assert outline.legends_in_fieldsets == 1
    assert outline.radios, "the choices are radio buttons"
    for radio_id in outline.radios:
        assert radio_id, "every radio button has an id"
        assert outline.labels.get(radio_id, "").strip(), f"radio {radio_id} has no <label for>"
    assert outline.radio_names == {"persona"}
    assert [b.strip() for b in outline.buttons] == ["Weiter / Continue"]
    assert outline.forms == [{"method": "post", "action": "/mock-eid/authorize"}]
    assert outline.script_count == 0


async def test_mock_eid_page_lists_every_persona_and_the_cancel_and_error_choices(
    client: httpx.AsyncClient,
) -> None:
    _, outline = await open_page(client)

    assert set(outline.radios.values()) == PERSONAS | {"cancel", "provider-error"}
    labels = {outline.radios[radio_id]: text for radio_id, text in outline.labels.items()}
    assert "Erika Mustermann" in labels["erika"]
    assert "abbrechen" in labels["cancel"]


async def test_mock_eid_page_shows_a_hostile_state_as_text_only(
    client: httpx.AsyncClient,
) -> None:
    state = '"><script>alert(1)</script>'

    page = await client.get("/mock-eid/authorize", params={"state": state})

    outline = PageOutline()
    outline.feed(page.text)
    assert page.status_code == 200
    assert outline.script_count == 0
    assert outline.hidden == {"state": state}


async def test_provider_error_choice_returns_provider_unavailable(
    client: httpx.AsyncClient,
) -> None:
    result = await authorize(client, "provider-error")

    assert result == {
        "error": "temporarily_unavailable",
        "error_code": "provider_unavailable",
        "state": "frontend-state-1",
    }


@pytest.fixture
async def client_without_mock_eid(
    database_url: str, db: Database
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, identity_providers=["dev-login"])
    async with client_for(create_app(settings, database=db)) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/mock-eid/authorize?state=s"),
        ("POST", "/mock-eid/authorize"),
        (
            "GET",
            "/api/v1/auth/mock-eid/login?return_to=http://localhost:3000/&code_challenge="
            + "c" * 43,
        ),
    ],
)
async def test_mock_eid_is_not_found_when_not_enabled(
    client_without_mock_eid: httpx.AsyncClient, method: str, path: str
) -> None:
    form = {"persona": "erika", "state": "s"} if method == "POST" else None

    response = await client_without_mock_eid.request(method, path, data=form)

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def production_env(tmp_path: Path) -> dict[str, str]:
    """Production settings that are safe apart from what a test changes."""
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(generate_private_pem())
    return {**SAFE_PRODUCTION, "RATHAUS_JWT_PRIVATE_KEY_FILE": str(key_file)}


@pytest.mark.parametrize("providers", ["dev-login", "mock-eid,dev-login", "oidc,dev-login"])
def test_production_app_refuses_development_sign_in(
    production_env: dict[str, str], providers: str
) -> None:
    env = {**production_env, "RATHAUS_IDENTITY_PROVIDERS": providers}
    settings = Settings.model_validate(
        {k.removeprefix("RATHAUS_").lower(): v for k, v in env.items()}
    )

    with pytest.raises(UnsafeProductionSettings, match="RATHAUS_IDENTITY_PROVIDERS") as refused:
        create_app(settings)

    assert "dev-login" in str(refused.value)


def test_serve_in_production_with_mock_eid_exits_naming_the_setting(
    production_env: dict[str, str],
) -> None:
    result = run_cli(
        "serve", env={**production_env, "RATHAUS_IDENTITY_PROVIDERS": "mock-eid,dev-login"}
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Refusing to start: RATHAUS_IDENTITY_PROVIDERS enables development-only providers: "
        "dev-login, mock-eid."
    ]
