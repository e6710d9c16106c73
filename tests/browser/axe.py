"""Headless Chromium and axe-core for the pages citizens and clerks read in a browser.

Chromium is Debian's (`make browser`), driven by Playwright without a browser of its own;
axe-core comes from tests/browser/package-lock.json and is injected from disk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import Page

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"


async def axe_violations(page: Page, axe_source: str) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is, injected through the debugging protocol
    (a page's content security policy allows no inline script)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source)
    result: dict[str, Any] = await page.evaluate("axe.run(document)")
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["html"] for n in v["nodes"]]}
        for v in result["violations"]
    ]
