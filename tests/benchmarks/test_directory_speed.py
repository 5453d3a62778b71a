"""Benchmarks of directory/: importing 10,000 units, and address -> unit lookups.

Targets: the import under 5 s, at least 200,000 lookups/s. Figures are
printed (run with -s); nothing here asserts a time.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from directory import Directory, DirectoryIndex
from support.province import province_csv

UNITS = 10_000


@pytest.fixture(scope="module")
def text() -> str:
    return province_csv(UNITS)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, text: str) -> Path:
    path = tmp_path_factory.mktemp("directory") / "directory.sqlite3"
    with Directory.open(path) as directory:
        directory.import_csv(text, actor="bench")
    return path


def test_import_of_10000_units(tmp_path: Path, text: str) -> None:
    with Directory.open(tmp_path / "d.sqlite3") as directory:
        start = time.perf_counter()
        summary = directory.import_csv(text, actor="bench")
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = directory.import_csv(text, actor="bench")
        second = time.perf_counter() - start
        changed = text.replace("Sở ", "Sở  ", 5)  # a few names change
        start = time.perf_counter()
        third = directory.import_csv(changed, actor="bench")
        update = time.perf_counter() - start
    assert len(summary.created) == UNITS and again.unchanged == UNITS and third.updated
    print(f"\nimport of {UNITS:,} units into an empty store: {first:.2f} s (target < 5 s)")
    print(f"re-import, nothing changed: {second:.2f} s; with {len(third.updated)} "
          f"changed: {update:.2f} s")


def test_lookups_per_second(store: Path) -> None:
    index = DirectoryIndex.open(store)
    units = index.units()
    rng = random.Random(8)
    # what a filter sees: primary addresses, aliases, +tags, odd case, unknowns
    addresses = []
    for unit in rng.sample(units, 2000):
        addresses.append(unit.address.addr_spec)
        addresses.append(unit.address.addr_spec.upper())
        local, domain = unit.address.addr_spec.split("@")
        addresses.append(f"{local}+hop@{domain}")
        addresses.append(f"nobody-{local}@{domain}")
    assert sum(index.unit_id(a) is not None for a in addresses) == 3 * 2000
    rounds = 50
    start = time.perf_counter()
    for _ in range(rounds):
        for address in addresses:
            index.unit_id(address)
    elapsed = time.perf_counter() - start
    rate = rounds * len(addresses) / elapsed
    idn = ["ubnd@Lào-Cai.gov.vn"] * 20_000
    start = time.perf_counter()
    for address in idn:
        index.unit_id(address)
    idn_rate = len(idn) / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(10_000):
        index.refresh()
    refresh = (time.perf_counter() - start) / 10_000
    start = time.perf_counter()
    rebuilt = DirectoryIndex.open(store)
    build = time.perf_counter() - start
    print(f"\naddress -> unit over {len(index):,} units: {rate:,.0f} lookups/s "
          f"(target >= 200,000); Unicode (IDN) domains: {idn_rate:,.0f}/s")
    print(f"refresh() with no change: {refresh * 1e6:.1f} µs; full index build: {build:.2f} s")
    index.close()
    rebuilt.close()


def test_publish_of_10000_units(store: Path, tmp_path: Path) -> None:
    with Directory.open(store, read_only=True) as directory:
        start = time.perf_counter()
        written = directory.publish(tmp_path / "www")
        elapsed = time.perf_counter() - start
    print(f"\npublish of {UNITS:,} units ({len(written):,} files): {elapsed:.2f} s")
