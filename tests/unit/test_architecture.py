"""The layout the architecture promises: imports flow one way, and docs/ARCHITECTURE.md names
every module there is, and no module that is gone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A package may import those after it in this list, never those before it.
LAYERS = ["demo", "pos_adapters", "rewards", "members", "loyalty"]
COMPOSITION_ROOT = "loyalty/app.py"  # the one module that registers every package


def modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for pkg in LAYERS for p in (ROOT / pkg).rglob("*.py"))


def imported_packages(path: Path) -> set[str]:
    """The project packages a module imports, at its top or inside a function."""
    tree = ast.parse((ROOT / path).read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
    return names & set(LAYERS)


@pytest.mark.parametrize("path", modules(), ids=str)
def test_a_module_imports_no_package_above_its_own(path):
    if path.as_posix() == COMPOSITION_ROOT:
        return
    own = LAYERS.index(path.parts[0])
    above = sorted(p for p in imported_packages(path) if LAYERS.index(p) < own)
    assert not above, f"{path} imports {above}, which sit above {path.parts[0]}"


def documented_modules() -> set[str]:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    pattern = r"`((?:" + "|".join(LAYERS) + r")/[\w/]*\.py)`"
    return set(re.findall(pattern, text))


def test_the_architecture_names_every_module():
    missing = [p.as_posix() for p in modules() if p.as_posix() not in documented_modules()]
    assert not missing, f"docs/ARCHITECTURE.md does not name {missing}"


def test_the_architecture_names_no_module_that_is_gone():
    gone = sorted(m for m in documented_modules() if not (ROOT / m).exists())
    assert not gone, f"docs/ARCHITECTURE.md names modules that do not exist: {gone}"
