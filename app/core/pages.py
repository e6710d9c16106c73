"""The shared look of the few server-rendered pages: readable, high contrast, a visible
focus (WCAG 2.1 AA)."""

STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;
color:#1a1a1a;background:#fff;line-height:1.5}
fieldset{border:1px solid #555;padding:1rem}
label{display:block;padding:.5rem 0;cursor:pointer}
input[type=radio]{margin-right:.5rem;transform:scale(1.3)}
button{font-size:1rem;padding:.6rem 1.2rem;margin-top:1rem;background:#003b70;color:#fff;border:0}
:focus-visible{outline:3px solid #b35c00;outline-offset:2px}
.en{color:#333}
"""
