"""The filter's in-memory index: lookups, and refreshing when the store changes."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from directory import Directory, DirectoryIndex, UnknownUnit
from directory.model import InvalidAddress


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, province_text: str
          ) -> Iterator[DirectoryIndex]:
    """The generated province, imported once for this module's lookups (none writes)."""
    with Directory.open(tmp_path_factory.mktemp("index") / "directory.sqlite3") as store:
        store.import_csv(province_text, actor="fixture")
        yield DirectoryIndex(store, domains=["Thư.LaoCai.gov.vn"])


@pytest.mark.parametrize(("address", "unit_id"), [
    ("so-tai-chinh@laocai.gov.vn", "so-tai-chinh"),
    ("SO-TAI-CHINH@LAOCAI.GOV.VN", "so-tai-chinh"),
    ("vanthu.so-tai-chinh@laocai.gov.vn", "so-tai-chinh"),
    ("so-tai-chinh+ke-toan@laocai.gov.vn", "so-tai-chinh"),
    ("so-tai-chinh@laocai.gov.vn.", "so-tai-chinh"),
    ("ubnd@lào-cai.gov.vn", "ubnd-tinh"),
    ("ubnd@LÀO-CAI.gov.vn", "ubnd-tinh"),
    ("ubnd@xn--lo-cai-ita.gov.vn", "ubnd-tinh"),
    ("ubnd@bac-ha.laocai.gov.vn", "bac-ha"),
    ("nobody@laocai.gov.vn", None),
    ("so-tai-chinh@other.gov.vn", None),
    ("not an address", None),
    ("@laocai.gov.vn", None),
    ("x@bad..domain\udcff", None),
])
def test_address_to_unit(index: DirectoryIndex, address: str, unit_id: str | None) -> None:
    assert index.unit_id(address) == unit_id


def test_unit_facts(index: DirectoryIndex) -> None:
    assert index.ancestors("tp-lao-cai-tckh") == ("tp-lao-cai-tckh", "tp-lao-cai", "ubnd-tinh")
    assert index.dkim_domain("bac-ha-vp") == "bac-ha.laocai.gov.vn"
    assert index.certificate("bac-ha-vp") == ""
    assert index.unit_for("ubnd@laocai.gov.vn") == index.unit("ubnd-tinh")
    assert len(index) == 1000
    for call in (index.unit, index.ancestors, index.dkim_domain, index.certificate):
        with pytest.raises(UnknownUnit):
            call("nope")


def test_own_domains(index: DirectoryIndex) -> None:
    assert "laocai.gov.vn" in index.domains
    assert "xn--lo-cai-ita.gov.vn" in index.domains
    assert index.is_own_domain("Bac-Ha.LaoCai.gov.vn")
    assert index.is_own_domain("thư.laocai.gov.vn")
    assert not index.is_own_domain("gmail.com")
    with pytest.raises(InvalidAddress):
        DirectoryIndex(Directory.open(":memory:"), domains=["not a domain"])


def test_inactive_units_resolve_and_say_so(index: DirectoryIndex) -> None:
    merged = next(u for u in index.units() if not u.is_active)
    assert index.unit_id(merged.address.addr_spec) == merged.id
    assert index.unit(merged.id).successor is not None


def test_refresh_sees_an_import_made_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    text = "id,name,parent,address\ntinh,UBND,,ubnd@laocai.gov.vn\n"
    with Directory.open(path) as writer:
        writer.import_csv(text)
        index = DirectoryIndex.open(path)
        assert index.refresh() is False
        assert index.unit_id("stc@laocai.gov.vn") is None
        writer.import_csv(text + "stc,Sở Tài chính,tinh,stc@laocai.gov.vn\n")
        assert index.refresh() is True
        assert index.unit_id("stc@laocai.gov.vn") == "stc"
        assert index.ancestors("stc") == ("stc", "tinh")
        # an import that changes nothing does not rebuild
        writer.import_csv(text + "stc,Sở Tài chính,tinh,stc@laocai.gov.vn\n")
        assert index.refresh() is False
        index.close()


def test_an_empty_store_gives_an_empty_index(tmp_path: Path) -> None:
    index = DirectoryIndex.open(tmp_path / "new.sqlite3")
    assert (len(index), index.domains, index.unit_id("a@b.vn"), index.revision) == (
        0, frozenset(), None, 0)


def test_refresh_from_another_thread(tmp_path: Path) -> None:
    path = tmp_path / "d.sqlite3"
    with Directory.open(path) as writer:
        writer.import_csv("id,name,parent,address\ntinh,UBND,,ubnd@laocai.gov.vn\n")
        index = DirectoryIndex.open(path)
        writer.import_csv("id,name,parent,address\ntinh,UBND,,ubnd2@laocai.gov.vn\n")
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: index.refresh(), range(2)))
    assert sorted(results) == [False, True]
    assert index.unit_id("ubnd2@laocai.gov.vn") == "tinh"
