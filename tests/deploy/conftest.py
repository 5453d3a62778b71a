"""The offline bundle ``make dist`` builds, made once per session for the tests that
install it (tests/deploy/test_bundle.py, and the deployment guide run as written), and
the previous release's bundle the guide's upgrade and rollback start from."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]


@pytest.fixture(scope="session")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked bundle directory; its tarball is beside it."""
    out = tmp_path_factory.mktemp("dist")
    # the locked wheels, downloaded and built once per lock on this machine (a minute at
    # load); install.sh checks every one against the lock's hashes
    built = subprocess.run([sys.executable, str(ROOT / "tools" / "bundle.py"), "--out", str(out),
                            "--wheel-cache", str(_cache() / "wheels")],
                           capture_output=True, text=True, timeout=900, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (out / f"congvu-{VERSION}-bundle.tar.gz").is_file()
    return out / f"congvu-{VERSION}-bundle"


#: The previous release: congvu as of this commit, before the audit store's seventh
#: migration (several chains), the quarantine index's second (claims) and the console
#: users' grants query. An upgrade from it migrates real stores, and a rollback to it
#: proves that the schema changes since are additive. The project has no release tags
#: yet; move this to the last release once there is one.
PREVIOUS_COMMIT = "9cdf088"
#: Its version: pyproject.toml said 0.1.0 then as now, so its bundle is named with the
#: commit as a local version label, which also lets the test tell the two apart.
PREVIOUS_VERSION = f"{VERSION}+{PREVIOUS_COMMIT}"


def _cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "congvu-tests"


@pytest.fixture(scope="session")
def previous_bundle() -> Path:
    """The tarball of the bundle ``make dist`` builds from :data:`PREVIOUS_COMMIT`.

    A commit never changes, so its bundle is built once on this machine (a minute and a
    half) and kept in the user's cache directory for every later session.
    """
    name = f"congvu-{PREVIOUS_VERSION}-bundle"
    kept = _cache() / name
    tarball = kept / f"{name}.tar.gz"
    if tarball.is_file():
        return tarball
    if subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_COMMIT}^{{commit}}"],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip(f"LOUD SKIP: the upgrade needs the previous release's commit "
                    f"{PREVIOUS_COMMIT}, which this clone lacks (a shallow clone?)")
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=kept.parent, prefix=".building-") as work:
        tree, out = Path(work) / "tree", Path(work) / name
        tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS_COMMIT],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        pyproject = tree / "pyproject.toml"
        pyproject.write_text(re.sub(r'(?m)^version = "[^"]*"', f'version = "{PREVIOUS_VERSION}"',
                                    pyproject.read_text("utf-8"), count=1), encoding="utf-8")
        built = subprocess.run(
            [sys.executable, str(tree / "tools" / "bundle.py"), "--out", str(out)],
            capture_output=True, text=True, timeout=900, check=False)
        assert built.returncode == 0, built.stdout + built.stderr
        shutil.rmtree(out / name)  # the tarball is what the server is given
        # another worker may have kept it first: the same commit, the same bundle
        with contextlib.suppress(OSError):
            out.rename(kept)
    assert tarball.is_file()
    return tarball
