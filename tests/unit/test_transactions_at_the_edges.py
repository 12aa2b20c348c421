"""Services never commit or roll back: only the unit of work does, opened by the edges."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("loyalty", "members", "rewards", "pos_adapters", "demo")
# The one module that commits and rolls back.
COMMITS = {"loyalty/unit_of_work.py"}
# The edges that open units of work: jobs, CLI commands, the demo seed, and the drain.
EDGE_NAMES = {"jobs.py", "cli.py"}
EDGES = {"loyalty/unit_of_work.py", "loyalty/message_jobs.py", "demo/seed.py"}


def sources() -> list[tuple[str, ast.AST]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found.append((path.relative_to(ROOT).as_posix(), ast.parse(path.read_text())))
    return found


def calls(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines that call `x.name(...)` or `name(...)` for a name in `names`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in names:
                lines.append(node.lineno)
    return lines


def is_edge(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return path in EDGES or name in EDGE_NAMES or name.endswith("_cli.py")


def test_the_scan_finds_the_packages_and_the_unit_of_work():
    found = dict(sources())
    assert "loyalty/unit_of_work.py" in found
    assert calls(found["loyalty/unit_of_work.py"], {"commit", "rollback"})
    assert len(found) > 50


def test_no_module_but_the_unit_of_work_commits_or_rolls_back():
    offenders = [
        f"{path}:{line}"
        for path, tree in sources()
        if path not in COMMITS
        for line in calls(tree, {"commit", "rollback"})
    ]
    assert offenders == [], "services add, flush and lock; the unit of work commits"


def test_only_the_edges_open_a_unit_of_work():
    offenders = [
        f"{path}:{line}"
        for path, tree in sources()
        if not is_edge(path)
        for line in calls(tree, {"unit_of_work"})
    ]
    assert offenders == [], "a view runs in one unit already; a job or command opens its own"


def test_the_structural_check_catches_a_commit_in_a_service():
    service = ast.parse("def enrol(session):\n    session.add(1)\n    session.commit()\n")
    assert calls(service, {"commit", "rollback"}) == [3]
