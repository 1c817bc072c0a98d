"""trader/core stays pure: no I/O modules and no clock reads (import-linter covers packages)."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "trader" / "core"
FORBIDDEN_MODULES = {
    "os",
    "socket",
    "subprocess",
    "pathlib",
    "shutil",
    "io",
    "sqlite3",
    "urllib",
    "http",
    "asyncio",
    "threading",
    "multiprocessing",
    "logging",
    "random",
    "time",
}
CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
}


def _core_modules() -> list[Path]:
    modules = sorted(CORE.rglob("*.py"))
    assert modules, "trader/core has no modules?"
    return modules


def test_core_imports_no_io_modules() -> None:
    offences = []
    for path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offences += [
                f"{path.relative_to(CORE)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in FORBIDDEN_MODULES
            ]
    assert offences == []


def test_core_never_reads_the_clock() -> None:
    offences = []
    for path in _core_modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                target = node.func.value
                owner = target.id if isinstance(target, ast.Name) else getattr(target, "attr", "")
                if (owner, node.func.attr) in CLOCK_READS:
                    offences.append(
                        f"{path.relative_to(CORE)}:{node.lineno} calls {owner}.{node.func.attr}()"
                    )
    assert offences == []
