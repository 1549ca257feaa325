"""The package's floor plan, read from src/geoscribe with ast (issue 11): each layer imports
only from layers below it, no private names cross modules, no cycles, no long functions, and a
recipe is named in at most two source files.

Layers, bottom up: errors/resources/types/geometry/files -> region, config, recipes ->
sources, text, qa -> builders -> checks, filters, shards, report, review, publish -> engine -> cli.
"""

from __future__ import annotations

import ast
import graphlib
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from geoscribe.recipes import RECIPES

SRC = Path(__file__).parents[1] / "src" / "geoscribe"
LOW = {"sources", "text", "qa", "region", "config", "errors", "resources"}
ABOVE_LOW = {"builders", "engine", "filters", "checks", "review", "publish", "report", "cli"}
ABOVE_BUILDERS = {"engine", "review", "publish", "report", "cli"}
MAX_BODY_LINES = 80
MAX_FILES_PER_RECIPE_NAME = 2


@dataclass(frozen=True)
class Import:
    """One import statement's target inside the package."""

    source: str  # importing module, e.g. geoscribe.qa.rsvqa
    target: str  # imported module, e.g. geoscribe.types
    names: tuple[str, ...]  # names taken from it ("from x import a, b"), empty for "import x"
    line: int
    module_level: bool  # runs on import (not in a function, not under TYPE_CHECKING)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    """The package part a module belongs to: geoscribe.qa.rsvqa -> qa, geoscribe.cli -> cli."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def parse_all(root: Path) -> dict[str, tuple[Path, ast.Module]]:
    return {module_name(p, root): (p, ast.parse(p.read_text(encoding="utf-8")))
            for p in sorted(root.rglob("*.py"))}


def _runs_on_import(tree: ast.Module) -> set[int]:
    """ids of the import nodes executed when the module is imported."""
    found: set[int] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.add(id(node))
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody,
                              *(h.body for h in node.handlers)):
                    visit(block)

    visit(tree.body)
    return found


def package_imports(modules: dict[str, tuple[Path, ast.Module]]) -> list[Import]:
    """Every import of a package module, anywhere in a file (functions included)."""
    found = []
    for name, (path, tree) in modules.items():
        on_import = _runs_on_import(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                pairs = [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                names = tuple(alias.name for alias in node.names)
                submodules = [f"{base}.{n}" for n in names if f"{base}.{n}" in modules]
                pairs = [(m, ()) for m in submodules] + [(base, names)]
            else:
                continue
            for target, names in pairs:
                if target.split(".")[0] == "geoscribe":
                    found.append(Import(name, target, names, node.lineno, id(node) in on_import))
    return found


def up_layer_imports(imports: list[Import]) -> list[str]:
    """R1-R3: imports that run up the layers."""
    bad = []
    for imp in imports:
        src, dst = layer(imp.source), layer(imp.target)
        if src in LOW and dst in ABOVE_LOW:
            bad.append(f"R1 {imp.source}:{imp.line} imports {imp.target}")
        if src == "builders" and dst in ABOVE_BUILDERS:
            bad.append(f"R2 {imp.source}:{imp.line} imports {imp.target}")
        if dst == "cli" and src not in ("cli", "__main__"):
            bad.append(f"R3 {imp.source}:{imp.line} imports {imp.target}")
    return bad


def private_imports(imports: list[Import]) -> list[str]:
    """R4: a name starting with one underscore taken from another module."""
    return [f"R4 {imp.source}:{imp.line} takes {imp.target}.{name}"
            for imp in imports if imp.target != imp.source
            for name in imp.names if name.startswith("_") and not name.startswith("__")]


def import_cycles(imports: list[Import], modules) -> list[str]:
    """R5: a cycle among the imports that run when a module is imported."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for imp in imports:
        if imp.module_level and imp.target in modules and imp.target != imp.source:
            graph[imp.source].add(imp.target)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return ["R5 cycle: " + " -> ".join(exc.args[1])]
    return []


def long_functions(modules) -> list[str]:
    """R6: a function whose body (after its docstring) is longer than MAX_BODY_LINES."""
    bad = []
    for name, (_, tree) in modules.items():
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body
            if len(body) > 1 and isinstance(body[0], ast.Expr) \
                    and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            lines = node.end_lineno - body[0].lineno + 1
            if lines > MAX_BODY_LINES:
                bad.append(f"R6 {name}.{node.name}: {lines} lines")
    return bad


def recipe_names_spelled(modules, recipe_names) -> list[str]:
    """R7: a recipe's name as a string literal in more than MAX_FILES_PER_RECIPE_NAME files."""
    where: dict[str, set[str]] = defaultdict(set)
    for name, (_, tree) in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in recipe_names:
                where[node.value].add(name)
    return [f"R7 {recipe!r} spelled in {sorted(files)}"
            for recipe, files in sorted(where.items()) if len(files) > MAX_FILES_PER_RECIPE_NAME]


def violations(root: Path, recipe_names) -> list[str]:
    modules = parse_all(root)
    imports = package_imports(modules)
    return (up_layer_imports(imports) + private_imports(imports)
            + import_cycles(imports, modules) + long_functions(modules)
            + recipe_names_spelled(modules, set(recipe_names)))


def test_package_keeps_its_layers():
    """issue 11: src/geoscribe breaks none of the rules R1-R7."""
    assert violations(SRC, RECIPES) == []


def test_shared_types_and_math_import_nothing_from_the_package():
    """issue 11: the bottom modules (types, geometry, files) stand on their own."""
    modules = parse_all(SRC)
    bottom = {"geoscribe.types", "geoscribe.geometry", "geoscribe.files"}
    assert bottom <= set(modules)
    assert [i for i in package_imports(modules) if i.source in bottom] == []


def test_the_registry_sits_above_the_builders():
    """issue 11 case registry: recipes.py imports the recipe modules (builders/), so only the
    layers above them (checks/, engine/, cli) import it; issue 15: so does report_card (the
    report layer, beside checks/), which reads each recipe's Hub task categories."""
    modules = parse_all(SRC)
    importers = {i.source for i in package_imports(modules) if i.target == "geoscribe.recipes"}
    assert importers
    assert {m.split(".")[1] for m in importers} <= {"checks", "engine", "cli", "report_card"}, \
        importers
    targets = {i.target for i in package_imports(modules) if i.source == "geoscribe.recipes"}
    assert any(t.startswith("geoscribe.builders") for t in targets)


def _write(root: Path, files: dict[str, str]) -> Path:
    package = root / "geoscribe"
    for rel, text in files.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for folder in {p.parent for p in package.rglob("*.py")} | {package}:
        (folder / "__init__.py").touch()
    return package


@pytest.mark.parametrize(("files", "rule"), [
    ({"qa/rsvqa.py": "from geoscribe.builders.tile_features import TileFeature\n",
      "builders/tile_features.py": "TileFeature = 1\n"}, "R1"),
    ({"sources/chip_reader.py": "def f():\n    from geoscribe.engine import build\n",
      "engine/build.py": ""}, "R1"),
    ({"builders/tiles.py": "from geoscribe.engine.feature_store import FeatureStore\n",
      "engine/feature_store.py": "FeatureStore = 1\n"}, "R2"),
    ({"engine/build.py": "import geoscribe.cli\n", "cli.py": ""}, "R3"),
    ({"builders/geochat_like.py": "from geoscribe.builders.rsvqa_like import _entry\n",
      "builders/rsvqa_like.py": "def _entry():\n    pass\n"}, "R4"),
    ({"region.py": "import geoscribe.config\n", "config.py": "import geoscribe.region\n"},
     "R5"),
    ({"report.py": "def f():\n" + "    x = 1\n" * (MAX_BODY_LINES + 1)}, "R6"),
    ({f"m{i}.py": "NAME = 'demo-like'\n" for i in range(MAX_FILES_PER_RECIPE_NAME + 1)}, "R7"),
])
def test_checker_catches_each_rule(tmp_path, files, rule):
    """issue 11: the checker above reports a package that breaks one rule, under that rule."""
    found = violations(_write(tmp_path, files), {"demo-like"})
    assert found and {v.split()[0] for v in found} == {rule}, found


def test_checker_passes_allowed_imports(tmp_path):
    """issue 11: downward imports, TYPE_CHECKING-only cycles and two spellings are fine."""
    package = _write(tmp_path, {
        "builders/tiles.py": "from geoscribe.types import Sample\nfrom geoscribe import qa\n",
        "types.py": "Sample = 1\nNAME = 'demo-like'\n",
        "engine/build.py": "from geoscribe.builders.tiles import Sample\nNAME = 'demo-like'\n",
        "region.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                     "    import geoscribe.config\n",
        "config.py": "import geoscribe.region\n",
        "__main__.py": "from geoscribe.cli import app\n", "cli.py": "app = 1\n",
    })
    assert violations(package, {"demo-like"}) == []


def test_test_modules_have_unique_basenames():
    """issue 11 (tests mirror src/): tests/ has no packages, so two test files with one
    basename (tests/engine/test_context.py and tests/builders/test_context.py) stop pytest at
    collection; a mirrored name that collides gets its package as a prefix instead."""
    tests = Path(__file__).resolve().parent
    names = [p.name for p in tests.rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
