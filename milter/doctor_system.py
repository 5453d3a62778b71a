"""``congvu doctor``'s look at the host: the Debian packages of deploy/debian-packages.txt
(``dpkg-query``) and the system libraries congvu's code loads, loaded here as the service
would load them. A library that cannot be loaded is an error: every message that needs
it would be answered 451 and Postfix would retry it for days."""

from __future__ import annotations

import ctypes.util
import importlib
import subprocess
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from milter.findings import Finding
from milter.findings import error as _error
from milter.findings import ok as _ok
from milter.findings import warn as _warn

LIST_NAME = "debian-packages.txt"
KINDS = ("library", "server", "test")


@dataclass(frozen=True, slots=True)
class DebianPackage:
    """One line of the list: the package, its kind, why congvu needs it, and for a
    library the name ``ctypes.util.find_library`` knows it by and the Python binding."""

    name: str
    kind: str
    why: str
    library: str = ""
    module: str = ""


class PackageListError(ValueError):
    """The package list has a line doctor cannot read."""


def read_package_list(text: str) -> list[DebianPackage]:
    """The packages of a list: ``NAME KIND [LIBRARY MODULE]  # why`` a line."""
    packages = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields, _, why = line.partition("#")
        words = fields.split()
        if not words:
            continue
        if len(words) < 2 or words[1] not in KINDS or (
                (words[1] == "library") != (len(words) == 4)) or len(words) not in (2, 4):
            raise PackageListError(f"line {number}: {line.strip()!r} is not "
                                   "NAME library LIBRARY MODULE, NAME server or NAME test")
        packages.append(DebianPackage(words[0], words[1], why.strip(), *words[2:]))
    return packages


def package_list_path() -> Path | None:
    """Where the list is: installed beside congvu's environment by install.sh
    (``share/congvu``), else in the source tree congvu runs from."""
    for candidate in (Path(sys.prefix) / "share" / "congvu" / LIST_NAME,
                      Path(__file__).resolve().parents[1] / "deploy" / LIST_NAME):
        if candidate.is_file():
            return candidate
    return None


def installed_packages(names: Iterable[str]) -> set[str]:
    """Which of ``names`` dpkg has installed; OSError when dpkg-query cannot run."""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\\t${db:Status-Abbrev}\\n", *names],
        capture_output=True, text=True, timeout=30, check=False)
    # dpkg-query exits 1 when a name is unknown to it, and still lists the others
    if done.returncode not in (0, 1):
        raise OSError(done.stderr.strip() or f"dpkg-query exited {done.returncode}")
    return {name for name, _, status in (line.partition("\t")
                                         for line in done.stdout.splitlines())
            if status.startswith("ii")}


def check_system(path: Path | None = None) -> Iterator[Finding]:
    """Each library of the list loads, and each package of the server is installed."""
    path = path or package_list_path()
    if path is None:
        yield _warn("debian packages", f"{LIST_NAME} is not installed with congvu, so the "
                    "system libraries it loads were not checked",
                    "install congvu with the bundle's install.sh")
        return
    try:
        packages = [p for p in read_package_list(path.read_text(encoding="utf-8"))
                    if p.kind != "test"]
    except (OSError, UnicodeDecodeError, PackageListError) as exc:
        yield _error(f"debian packages {path}", f"cannot read the list ({exc})",
                     "reinstall congvu with the bundle's install.sh")
        return
    try:
        installed: set[str] | None = installed_packages(p.name for p in packages)
    except (OSError, subprocess.SubprocessError) as exc:
        installed = None
        yield _warn("debian packages", f"dpkg-query cannot list the packages ({exc}): only "
                    "the libraries are checked", "on Debian, install dpkg")
    for package in packages:
        if package.kind == "library":
            yield from _check_library(package, installed)
    missing = [p for p in packages
               if p.kind == "server" and installed is not None and p.name not in installed]
    for package in missing:
        yield _warn(f"package {package.name}", f"not installed on this host: {package.why}",
                    f"apt-get install {package.name}, unless it runs on another host")
    present = [p.name for p in packages if p.kind == "server" and p not in missing]
    if installed is not None and present:
        yield _ok("debian packages", f"installed: {', '.join(present)}")


def _check_library(package: DebianPackage,
                   installed: set[str] | None) -> Iterator[Finding]:
    where = f"package {package.name}"
    fix = f"apt-get install {package.name}, then restart congvu"
    found = ctypes.util.find_library(package.library)
    if found is None:
        yield _error(where, f"the system library {package.library} is missing, which "
                     f"{package.module} loads: {package.why}", fix)
        return
    try:
        importlib.import_module(package.module)
    except Exception as exc:  # a binding fails as it likes (ImportError, OSError, AttributeError)
        yield _error(where, f"{package.module} cannot load {found} "
                     f"({type(exc).__name__}: {exc}): {package.why}", fix)
        return
    if installed is not None and package.name not in installed:
        yield _warn(where, f"{package.module} loads {found}, but the Debian package is not "
                    "installed: a library from elsewhere, which Debian's updates do not reach",
                    f"apt-get install {package.name}")
    else:
        yield _ok(where, f"{package.module} loads {found}")
