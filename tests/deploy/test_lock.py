"""requirements.lock pins every runtime dependency pyproject.toml names, with hashes."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")


def _locked() -> dict[str, tuple[str, int]]:
    """Each locked distribution: its version and how many hashes it carries."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match["name"])
            pins[name] = (match["version"].rstrip("\\ "), 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = pins[name]
            pins[name] = (version, hashes + 1)
    return pins


def _required() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in project["dependencies"]]


def test_every_runtime_dependency_is_pinned_within_its_range_with_hashes() -> None:
    locked = _locked()
    problems = []
    for requirement in _required():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        name = canonicalize_name(requirement.name)
        if name not in locked:
            problems.append(f"{requirement.name} is not in requirements.lock: run make lock")
            continue
        version, hashes = locked[name]
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{name}=={version} is outside pyproject's {requirement}")
        if hashes == 0:
            problems.append(f"{name} has no --hash")
    assert problems == []


def test_the_lock_holds_no_test_tool() -> None:
    # the bundle installs the lock on mail servers: the [test] extra stays out of it
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {canonicalize_name(Requirement(t).name) for t in project["dependencies"]}
    tools = {canonicalize_name(Requirement(t).name)
             for t in project["optional-dependencies"]["test"]} - runtime
    assert sorted(tools & set(_locked())) == []


def test_the_environment_running_the_tests_has_every_locked_version() -> None:
    # make builds .venv from the lock: what the tests exercise is what a server installs
    drifted = {}
    for name, (pinned, _hashes) in _locked().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            drifted[name] = (pinned, installed)
    assert not drifted, f"locked -> installed: {drifted}; run make (it installs the lock)"
