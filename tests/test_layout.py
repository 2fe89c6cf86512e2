"""The shape of the package: small modules, packages by role, and imports that point one way only.

Every import in src/colorgan is read with `ast` (those inside functions and under TYPE_CHECKING too) and reduced
to an edge between parts: a package (`nets`, `train`, `infer`, `io`, `evaluation`, `serve`, `cli`), a top-level
module (`config`, `colorspace`, `devices`, `extras`) or `colorgan` itself (its `__init__`, e.g. `__version__`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "colorgan"
PACKAGES = {"nets", "train", "infer", "io", "evaluation", "serve", "cli"}
TOP_MODULES = {"config", "colorspace", "devices", "extras"}
OUTSIDE = {"benchmarks", "experiments"}  # beside the package; they import it, never the reverse

# What each part may not import. nets and io are leaves: an allowlist, exactly what they need today.
FORBIDDEN = {
    "nets": (PACKAGES | TOP_MODULES | {"colorgan"}) - {"nets", "colorspace", "config"},
    "io": (PACKAGES | TOP_MODULES | {"colorgan"}) - {"io"},
    "infer": {"train", "cli", "serve"},
    "serve": {"train", "cli"},
    "train": {"cli", "serve", "evaluation"},
    **{module: PACKAGES | {"colorgan"} for module in TOP_MODULES},  # the flat core imports no package
}


def part_of(path: Path) -> str:
    """The part a file belongs to: its package, its own name for a top-level module, `colorgan` for __init__."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if len(parts) > 1:
        return parts[0]
    return "colorgan" if parts[0] == "__init__" else parts[0]


def imported_modules(path: Path) -> list[str]:
    """Every module `path` imports, absolute and dotted; `from . import x` names `x` too, as it may be a module."""
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found += [f"{module}.{alias.name}" for alias in node.names] if node.module is None else [module]
    return found


def target_part(module: str) -> str | None:
    """The colorgan part an imported module belongs to (None outside colorgan)."""
    names = module.split(".")
    if names[0] != "colorgan":
        return None
    if len(names) > 1 and ((PACKAGE / names[1]).is_dir() or (PACKAGE / f"{names[1]}.py").is_file()):
        return names[1]
    return "colorgan"  # a name defined in colorgan/__init__.py, e.g. __version__


def import_graph() -> dict[str, set[str]]:
    """part -> the other parts it imports."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part_of(path)
        targets = {target_part(m) for m in imported_modules(path)} - {None, source}
        graph.setdefault(source, set()).update(targets)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle between parts, as a path that ends where it starts; [] if there is none."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt, path + [nxt])):
                return cycle
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return []


def test_no_module_is_over_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


def test_the_parts_are_the_packages_and_top_modules_named_here():
    assert set(import_graph()) == PACKAGES | TOP_MODULES | {"colorgan", "__main__"}


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_each_part_imports_only_what_its_role_allows(part):
    assert import_graph().get(part, set()) & FORBIDDEN[part] == set()


def test_nothing_in_the_package_imports_benchmarks_or_experiments():
    offenders = [
        f"{path.relative_to(PACKAGE)}: {module}"
        for path in PACKAGE.rglob("*.py")
        for module in imported_modules(path)
        if module.split(".")[0] in OUTSIDE
    ]
    assert offenders == []


def test_no_import_cycles_between_parts():
    assert find_cycle(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []
