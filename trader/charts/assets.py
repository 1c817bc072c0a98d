"""The chart scripts shipped inside the package: read by the dashboard (served) and the backtest
report (inlined, so the report file opens offline)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files

LIBRARY = "lightweight-charts.standalone.production.js"
BUILDER = "charts.js"
# Served as they are; the licences travel with the library they cover.
ASSETS = {
    LIBRARY: "text/javascript; charset=utf-8",
    BUILDER: "text/javascript; charset=utf-8",
    "LICENSE.lightweight-charts.txt": "text/plain; charset=utf-8",
    "LICENSE.fancy-canvas.txt": "text/plain; charset=utf-8",
}


def asset_text(name: str) -> str:
    if name not in ASSETS:
        raise KeyError(f"no chart asset {name!r}")
    return files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def inline_scripts() -> str:
    """The library and the builder as inline <script> elements, for a self-contained HTML file."""
    return "".join(f"<script>{_safe_inline(asset_text(name))}</script>" for name in (LIBRARY, BUILDER))


def _safe_inline(script: str) -> str:
    # A literal "</script" inside a script element would end it early.
    return script.replace("</script", "<\\/script")


# The library adds one <style> element of its own (the TradingView attribution logo's rules).
_LIBRARY_STYLE = re.compile(r'createElement\("style"\),this\.\w+\.innerText="([^"]+)"')


@cache
def library_style_hashes() -> tuple[str, ...]:
    """CSP source expressions allowing exactly the library's own inline style, and nothing else."""
    return tuple(
        "'sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() + "'"
        for style in _LIBRARY_STYLE.findall(asset_text(LIBRARY))
    )
