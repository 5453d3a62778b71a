"""Meta-tests: ARCHITECTURE.md's import table and each package's public surface."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["milter", "policies", "directory", "signer", "audit", "mailbase", "web"]
CAPABILITIES = ["policies", "directory", "signer", "audit"]

# ARCHITECTURE.md, "Layout": who may import whom among our own packages.
ALLOWED: dict[str, set[str]] = {
    "milter": set(PACKAGES),
    "web": set(PACKAGES),
    "mailbase": {"mailbase"},
    **{name: {name, "mailbase"} for name in CAPABILITIES},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_design_table(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_packages(path) - ALLOWED[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {path: bad for path, bad in offenders.items() if bad} == {}


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
