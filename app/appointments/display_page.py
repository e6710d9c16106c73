"""The call-up display's page for the waiting-room screen: large type, high contrast, German
with English alongside, for a landscape or a portrait screen. Its script
(`static/display.js`, served from here, as the pages' content security policy allows no inline
script) fills in the board and follows it live."""

from __future__ import annotations

import hashlib
from functools import cache
from html import escape
from pathlib import Path

STATIC = Path(__file__).with_name("static")
SCRIPT_PATH = "/appointments/assets/display.js"

STYLE = """
*{box-sizing:border-box}
html,body{margin:0;height:100%}
body{background:#000;color:#fff;font-family:system-ui,"DejaVu Sans",sans-serif;line-height:1.15}
main{display:grid;height:100vh;overflow:hidden;padding:3vmin 4vmin;gap:2vmin 5vmin;
grid-template-columns:1fr 1fr;grid-template-rows:auto 1fr auto;
grid-template-areas:"head head" "latest earlier" "status status"}
@media (orientation:portrait){main{grid-template-columns:1fr;
grid-template-rows:auto auto 1fr auto;grid-template-areas:"head" "latest" "earlier" "status"}}
header{grid-area:head;display:flex;flex-wrap:wrap;justify-content:space-between;
align-items:baseline;gap:0 4vmin;border-bottom:.5vmin solid #ffd400;padding-bottom:1.5vmin}
h1{font-size:6.5vmin;margin:0}
.branch{font-size:4.5vmin;margin:0}
h2{font-size:3.6vmin;font-weight:normal;margin:0 0 2vmin}
.en{color:#e0e0e0;font-weight:normal}
.latest{grid-area:latest}
.earlier{grid-area:earlier;overflow:hidden}
.call{font-size:13vmin;font-weight:700;margin:0 0 2vmin;display:flex;flex-wrap:wrap;
gap:0 3vmin;align-items:baseline}
.number{color:#ffd400;font-variant-numeric:tabular-nums}
.say{font-size:4vmin;margin:0 0 1vmin}
.waiting{font-size:5vmin;margin:0}
ol{list-style:none;margin:0;padding:0}
li{font-size:6.5vmin;font-weight:700;display:flex;flex-wrap:wrap;gap:0 3vmin;
padding:1vmin 0;border-bottom:.3vmin solid #767676}
.arrow{color:#fff}
.status{grid-area:status;background:#ffd400;color:#000;font-size:3.2vmin;margin:0;
padding:1vmin 2vmin}
.fresh .call{animation:flash 1s 3}
@keyframes flash{50%{background:#ffd400;color:#000}}
@media (prefers-reduced-motion:reduce){.fresh .call{animation:none}}
"""


@cache
def script() -> bytes:
    return (STATIC / "display.js").read_bytes()


@cache
def script_version() -> str:
    """Part of the script's URL, so a screen loads a new script as soon as it changes and
    may keep the old one for long."""
    return hashlib.sha256(script()).hexdigest()[:12]


def display_html(branch_name: str, board_url: str, events_url: str) -> str:
    name = escape(branch_name)
    return f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Aufrufanzeige {name} – Call-up display</title>
<style>{STYLE}</style>
<script src="{SCRIPT_PATH}?v={script_version()}" defer></script>
</head>
<body data-board="{escape(board_url)}" data-events="{escape(events_url)}">
<main>
<header>
<h1>Aufruf <span class="en" lang="en">/ Now calling</span></h1>
<p class="branch">{name}</p>
</header>
<section class="latest" aria-labelledby="latest-title">
<h2 id="latest-title">Aktueller Aufruf <span class="en" lang="en">/ Current call</span></h2>
<div id="latest" aria-live="polite" aria-atomic="true">
<p class="waiting">Noch kein Aufruf <span class="en" lang="en">/ No call yet</span></p>
</div>
</section>
<section class="earlier" aria-labelledby="earlier-title">
<h2 id="earlier-title">Vorherige Aufrufe <span class="en" lang="en">/ Earlier calls</span></h2>
<ol id="earlier"></ol>
</section>
<p id="status" class="status" hidden>Die Anzeige ist gerade nicht aktuell und verbindet sich
neu. <span lang="en">The display is not up to date and is reconnecting.</span></p>
</main>
</body>
</html>
"""


def not_found_html() -> str:
    return f"""<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>Anzeige nicht gefunden – Display not found</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<header><h1>Anzeige nicht gefunden <span class="en" lang="en">/ Display not found</span></h1>
</header>
<section class="latest">
<p class="say">Diese Zweigstelle gibt es nicht oder sie vergibt keine Termine. Bitte prüfen
Sie die Adresse der Anzeige.</p>
<p class="say en" lang="en">This branch does not exist or takes no appointments. Please check
the display's address.</p>
</section>
</main>
</body>
</html>
"""
