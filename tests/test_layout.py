"""Meta-tests: ARCHITECTURE.md's import table and each package's public surface."""

from __future__ import annotations

import ast
import functools
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "congvu", "milter", "policies", "directory", "signer", "audit", "archive", "mailbase", "web"]
CAPABILITIES = ["policies", "directory", "signer", "audit", "archive"]

# ARCHITECTURE.md, "Layout": who may import whom among our own packages. congvu/ is the
# composition root: it imports everything and nothing imports it.
ALLOWED: dict[str, set[str]] = {
    "congvu": set(PACKAGES),
    "milter": set(PACKAGES) - {"congvu", "web"},
    "web": {"web", "mailbase", *CAPABILITIES},
    "mailbase": {"mailbase"},
    **{name: {name, "mailbase"} for name in CAPABILITIES},
}


@functools.cache  # the table's test and the cycle's read the same files
def _imported_packages(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return frozenset(found & set(PACKAGES))


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_design_table(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) - ALLOWED[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}


def _import_graph() -> dict[str, set[str]]:
    return {package: set().union(*(_imported_packages(path)
                                   for path in (ROOT / package).rglob("*.py"))) - {package}
            for package in PACKAGES}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A path that leads back to its start (depth first), or None."""
    path: list[str] = []
    done: set[str] = set()

    def visit(package: str) -> list[str] | None:
        if package in path:
            return [*path[path.index(package):], package]
        if package in done:
            return None
        path.append(package)
        for imported in sorted(graph.get(package, set())):
            if (cycle := visit(imported)) is not None:
                return cycle
        path.pop()
        done.add(package)
        return None

    return next((cycle for package in sorted(graph) if (cycle := visit(package))), None)


def test_the_packages_import_each_other_without_a_cycle() -> None:
    assert _find_cycle(_import_graph()) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    # what the test above would see if web/ imported milter/'s configuration again
    assert _find_cycle({"congvu": {"web"}, "web": {"milter"}, "milter": {"web"}}) == [
        "web", "milter", "web"]


@pytest.mark.parametrize("package", PACKAGES)
def test_all_names_exist_and_are_documented(package: str) -> None:
    module = importlib.import_module(package)
    exported = module.__all__
    assert sorted(exported) == sorted(set(exported)), "duplicates in __all__"
    for name in exported:
        value = getattr(module, name)
        if callable(value) or isinstance(value, type):
            assert (value.__doc__ or "").strip(), f"{package}.{name} has no docstring"


@pytest.mark.parametrize("package", CAPABILITIES)
def test_capability_package_has_its_error_root(package: str) -> None:
    errors = importlib.import_module(f"{package}.errors")
    roots = [
        value for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Exception)
        and value.__module__ == errors.__name__ and value.__bases__ == (Exception,)
    ]
    assert len(roots) == 1, f"{package}/errors.py must define exactly one root exception"
