#!/usr/bin/env python3
"""Copy the charting library's standalone production bundle from node_modules into the package.

Run by `make charts` after `npm ci` (the version is pinned in package.json and package-lock.json).
The copy, its licence and a manifest (version, SHA-256, source file) are committed, so the
dashboard and the backtest report work offline and `pip install` needs no Node; a test checks the
copy against the manifest and the pin.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
TARGET = REPOSITORY / "trader" / "charts" / "static"
BUNDLE = "lightweight-charts.standalone.production.js"
MANIFEST = "vendor.json"
# fancy-canvas (MIT) is compiled into the standalone bundle; its terms travel with it.
FANCY_CANVAS_LICENSE = """fancy-canvas (bundled inside lightweight-charts.standalone.production.js)
License: MIT (as declared in its package.json). Copyright (c) TradingView, Inc.

Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
associated documentation files (the "Software"), to deal in the Software without restriction,
including without limitation the rights to use, copy, modify, merge, publish, distribute,
sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions: The above copyright notice and this
permission notice shall be included in all copies or substantial portions of the Software.
THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND.
"""


def vendor(node_modules: Path, target: Path) -> dict[str, str]:
    package = node_modules / "lightweight-charts"
    version = json.loads((package / "package.json").read_text())["version"]
    bundle = package / "dist" / BUNDLE
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle, target / BUNDLE)
    shutil.copyfile(package / "LICENSE", target / "LICENSE.lightweight-charts.txt")
    (target / "LICENSE.fancy-canvas.txt").write_text(FANCY_CANVAS_LICENSE)
    manifest = {
        "package": "lightweight-charts",
        "version": version,
        "file": BUNDLE,
        "source": f"node_modules/lightweight-charts/dist/{BUNDLE}",
        "sha256": hashlib.sha256((target / BUNDLE).read_bytes()).hexdigest(),
        "license": "Apache-2.0 (LICENSE.lightweight-charts.txt); attribution: https://www.tradingview.com/",
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--node-modules", type=Path, default=REPOSITORY / "node_modules")
    arguments = parser.parse_args(argv)
    if not (arguments.node_modules / "lightweight-charts").is_dir():
        print(f"no lightweight-charts under {arguments.node_modules}: run `npm ci` first", file=sys.stderr)
        return 1
    manifest = vendor(arguments.node_modules, TARGET)
    print(f"vendored lightweight-charts {manifest['version']} ({manifest['sha256'][:12]}) into {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
