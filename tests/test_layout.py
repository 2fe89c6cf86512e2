"""The shape of the package: small modules, and a core that never imports the periphery."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "colorgan"
PERIPHERY = {"cli", "commands", "demo", "bench", "export", "serve", "evaluation"}


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_the_core_never_imports_the_periphery():
    offenders = []
    for path in PACKAGE.glob("*.py"):  # the flat core (subpackages are periphery)
        if path.stem in PERIPHERY or path.stem.startswith("__"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module or ""] + ([a.name for a in node.names] if not node.module else [])
                offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in PERIPHERY]
    assert offenders == []
