"""The vendored chart library is the pinned npm release, whole, with its licence."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from trader.charts.assets import LIBRARY, asset_text, library_style_hashes

REPOSITORY = Path(__file__).resolve().parents[3]
STATIC = REPOSITORY / "trader" / "charts" / "static"


def test_the_bundle_is_the_pinned_release_named_in_its_manifest() -> None:
    manifest = json.loads((STATIC / "vendor.json").read_text())
    pinned = json.loads((REPOSITORY / "package.json").read_text())["dependencies"]["lightweight-charts"]
    locked = json.loads((REPOSITORY / "package-lock.json").read_text())["packages"]
    bundle = (STATIC / LIBRARY).read_bytes()
    assert manifest["version"] == pinned == locked["node_modules/lightweight-charts"]["version"]
    assert hashlib.sha256(bundle).hexdigest() == manifest["sha256"]
    header = re.search(rb"Lightweight Charts\xe2\x84\xa2 v(\d+\.\d+\.\d+)", bundle[:400])
    assert header is not None and header.group(1).decode() == pinned
    assert "Apache License" in (STATIC / "LICENSE.lightweight-charts.txt").read_text()
    assert (STATIC / "LICENSE.fancy-canvas.txt").read_text().startswith("fancy-canvas")
    # Refreshed by `make charts`: when node_modules holds the release, the copy equals it.
    installed = REPOSITORY / "node_modules" / "lightweight-charts" / "dist" / LIBRARY
    if (
        installed.exists()
        and json.loads(installed.parents[1].joinpath("package.json").read_text())["version"] == pinned
    ):
        assert installed.read_bytes() == bundle


def test_the_page_allows_exactly_the_librarys_own_inline_style() -> None:
    (allowed,) = library_style_hashes()
    assert allowed.startswith("'sha256-") and allowed.endswith("='")
    assert "a#tv-attr-logo" in asset_text(LIBRARY)
