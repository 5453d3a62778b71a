"""Build congvu's offline bundle (``make dist``): everything a mail server without
Internet access needs to install congvu with deploy/install.sh.

OUT/congvu-<version>-bundle/ holds congvu's wheel and a wheel of every dependency
requirements.lock pins, for this machine's platform and Python; the lock itself, with
the hashes of the wheels built here from source distributions added to their entries
(their sdists were checked against the lock's hashes first); install.sh; deploy/ and
README.md; VERSION, PYTHON and SHA256SUMS. OUT/congvu-<version>-bundle.tar.gz is the
same directory as one file to carry. Run it with the Python the servers run (3.11 on
Debian 12): the wheels are for that version.

``--wheel-cache DIR`` keeps the dependencies' wheels (and the hashes of those built from
sdists) in DIR/<sha256 of the lock>/ and takes them from there next time: the tests build
a bundle every session, and downloading and building the same locked wheels is most of
that time. Only the wheels of an identical lock are reused; ``make dist`` uses no cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
                   check=True)


def _wheels_for_the_lock(lock: Path, wheels: Path, work: Path) -> dict[str, str]:
    """Every locked distribution as a wheel in ``wheels``; returns the hashes of the
    wheels built here from sdists (a release with no wheel for this platform), by name."""
    downloads = work / "downloads"
    _pip("download", "--no-deps", "--require-hashes", "-r", str(lock), "-d", str(downloads))
    built: dict[str, str] = {}
    for path in sorted(downloads.iterdir()):
        if path.suffix == ".whl":
            shutil.move(path, wheels / path.name)
            continue
        # an sdist whose hash the lock has just checked: build its wheel once, here,
        # so that the server installs wheels only (no compiler, no build tools)
        out = work / "built" / path.name
        _pip("wheel", "--no-deps", "-w", str(out), str(path))
        [wheel] = out.glob("*.whl")
        shutil.move(wheel, wheels / wheel.name)
        built[_normalize(wheel.name.split("-")[0])] = _sha256(wheels / wheel.name)
    return built


def _cached_wheels(lock: Path, wheels: Path, work: Path, cache: Path) -> dict[str, str]:
    """:func:`_wheels_for_the_lock` through ``cache``: the wheels of this very lock, kept
    by an earlier build, or built now and kept."""
    kept = cache / _sha256(lock)
    if not (kept / "built.json").is_file():
        fresh = work / "fresh"
        fresh.mkdir()
        (fresh / "built.json").write_text(
            json.dumps(_wheels_for_the_lock(lock, fresh, work)), encoding="utf-8")
        cache.mkdir(parents=True, exist_ok=True)
        staged = Path(tempfile.mkdtemp(dir=cache, prefix=".staging-"))
        shutil.copytree(fresh, staged, dirs_exist_ok=True)
        try:
            staged.rename(kept)
        except OSError:  # another build kept the same wheels first
            shutil.rmtree(staged)
    for wheel in kept.glob("*.whl"):
        shutil.copy2(wheel, wheels / wheel.name)
    built: dict[str, str] = json.loads((kept / "built.json").read_text("utf-8"))
    return built


def bundle_lock(text: str, extra: dict[str, str]) -> str:
    """The lock with each ``extra`` hash added to the entry of its distribution."""
    lines = ["# The bundle's copy of requirements.lock: the hashes of the wheels built from "
             f"the sdists of {', '.join(sorted(extra)) or 'no distribution'} are added.", ]
    current = ""
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            current = _normalize(match.group(1))
        stripped = line.strip()
        if (current in extra and stripped.startswith("--hash=")
                and not stripped.endswith("\\")):
            lines.append(f"{line} \\")
            lines.append(f"    --hash=sha256:{extra.pop(current)}")
            continue
        lines.append(line)
    if extra:
        raise SystemExit(f"bundle: {', '.join(extra)} not found in the lock")
    return "\n".join(lines) + "\n"


def build(out: Path, lock: Path, wheel_cache: Path | None = None) -> Path:
    """Build the bundle directory and its tarball under ``out``; returns the tarball."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
    name = f"congvu-{version}-bundle"
    bundle = out / name
    shutil.rmtree(bundle, ignore_errors=True)
    wheels = bundle / "wheels"
    wheels.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="congvu-bundle-") as work:
        _pip("wheel", "--no-deps", "-w", str(wheels), str(ROOT))
        built = (_wheels_for_the_lock(lock, wheels, Path(work)) if wheel_cache is None
                 else _cached_wheels(lock, wheels, Path(work), wheel_cache))
    (bundle / "requirements.lock").write_text(
        bundle_lock(lock.read_text("utf-8"), built), encoding="utf-8")
    shutil.copytree(ROOT / "deploy", bundle / "deploy",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "README.md", bundle / "README.md")
    shutil.copy2(ROOT / "deploy" / "install.sh", bundle / "install.sh")
    (bundle / "VERSION").write_text(f"{version}\n", encoding="utf-8")
    (bundle / "PYTHON").write_text(f"{sys.version_info[0]}.{sys.version_info[1]}\n",
                                   encoding="utf-8")
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    (bundle / "SHA256SUMS").write_text(
        "".join(f"{_sha256(p)}  {p.relative_to(bundle)}\n" for p in files), encoding="utf-8")
    tarball = out / f"{name}.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(bundle, arcname=name)
    return tarball


def main(argv: list[str] | None = None) -> int:
    """``make dist``: build the bundle, say where it is."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "dist",
                        help="where to write the bundle (default: dist/)")
    parser.add_argument("--lock", type=Path, default=ROOT / "requirements.lock",
                        help="the pinned dependencies (default: requirements.lock)")
    parser.add_argument("--wheel-cache", type=Path, default=None,
                        help="keep the dependencies' wheels here, by the lock's hash, and "
                             "reuse them (the tests' bundles; not for a release)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    tarball = build(args.out.resolve(), args.lock.resolve(),
                    args.wheel_cache.resolve() if args.wheel_cache else None)
    print(f"{tarball} ({tarball.stat().st_size / 1e6:.1f} MB, sha256 {_sha256(tarball)})")
    print(f"install on the server, as root: tar xzf {tarball.name} && "
          f"{tarball.name.removesuffix('.tar.gz')}/install.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
