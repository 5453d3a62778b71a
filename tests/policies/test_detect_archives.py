"""Content detection by the bytes and archive listing with hard limits."""

from __future__ import annotations

import io
import zipfile

import pytest

from policies.archives import ENCRYPTED_MEMBER, ArchiveLimits, expand_parts
from policies.detect import detect
from policies.model import Part

from .conftest import corpus_module as cm


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (cm.EXE, "application/x-dosexec"),
        (cm.ELF, "application/x-executable"),
        (cm.MACHO, "application/x-mach-binary"),
        (cm.LNK, "application/x-ms-shortcut"),
        (cm.PDF, "application/pdf"),
        (cm.PNG, "image/png"),
        (cm.ooxml("docx"),
         "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        (cm.ooxml("xlsx"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        (cm.zip_of({"a": b"b"}), "application/zip"),
        (cm.tar_of({"a": b"b"}), "application/x-tar"),
        (cm.sevenzip_of({"a": b"b"}), "application/x-7z-compressed"),
        (b"", "application/x-empty"),
        ("Điều 1".encode(), "text/plain"),
    ],
)
def test_detected_type(data: bytes, kind: str) -> None:
    assert detect(data).type == kind


def test_scripts_in_a_text_body_are_not_scripts() -> None:
    assert not detect(cm.JS, is_attachment=False).is_script
    assert detect(cm.JS).is_script


def test_unknown_binary_goes_to_libmagic() -> None:
    assert detect(b"\x00\x01\x02\x03" * 100).type == "application/octet-stream"


def test_broken_ole_is_typed_not_raised() -> None:
    d = detect(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\xff" * 600)
    assert d.type == "application/x-ole-storage"
    assert "unreadable OLE container" in d.findings


def _archive(data: bytes, name: str = "a.zip") -> Part:
    return Part(path="2", content_type="application/zip", filenames=(name,), data=data,
                size=len(data), detection=detect(data))


def test_members_are_listed_recursively_with_paths() -> None:
    inner = cm.zip_of({"b/c.pdf": cm.PDF})
    parts = expand_parts([_archive(cm.zip_of({"inner.zip": inner, "x.txt": b"hi"}))],
                         ArchiveLimits())
    assert [p.member for p in parts] == [None, "inner.zip", "inner.zip/b/c.pdf", "x.txt"]
    assert parts[2].detection.type == "application/pdf"


def test_member_count_limit() -> None:
    archive = _archive(cm.zip_of({f"{k}.txt": b"x" for k in range(20)}))
    expand_parts([archive], ArchiveLimits(max_members=5))
    assert [d.kind for d in archive.defects] == ["archive-limits"]
    assert "20 members" in archive.defects[0].reason


def test_total_size_limit_uses_declared_sizes_before_inflating() -> None:
    archive = _archive(cm.zip_of({"a.txt": b"a" * 5000, "b.txt": b"b" * 5000}))
    expand_parts([archive], ArchiveLimits(max_total_size=6000))
    assert archive.defects and "declares 10000 bytes" in archive.defects[0].reason


def test_compression_ratio_limit() -> None:
    archive = _archive(cm.zip_of({"z": b"\0" * (2 << 20)}))
    members = expand_parts([archive], ArchiveLimits(max_ratio=50))
    assert "expands" in archive.defects[0].reason
    assert members[1].data == b""  # never inflated


def test_depth_limit() -> None:
    members = expand_parts([_archive(cm.nested_zip(4, {"a.txt": b"x"}))],
                           ArchiveLimits(max_depth=2))
    assert any("nested deeper than 2" in d.reason for p in members for d in p.defects)


def test_encrypted_zip_members() -> None:
    parts = expand_parts([_archive(cm.zip_of({"a.pdf": b"x"}, encrypted=True))], ArchiveLimits())
    assert parts[1].detection.type == ENCRYPTED_MEMBER
    assert parts[1].filenames == ("a.pdf",)


def test_bad_central_directory() -> None:
    archive = _archive(cm.zip_of({"a.pdf": cm.PDF})[:-30])
    expand_parts([archive], ArchiveLimits())
    assert [d.kind for d in archive.defects] == ["unreadable-archive"]


def test_corrupt_member_is_a_defect() -> None:
    raw = bytearray(cm.zip_of({"a.txt": b"hello world " * 100}))
    raw[40:60] = b"\xff" * 20  # inside the deflate stream
    archive = _archive(bytes(raw))
    expand_parts([archive], ArchiveLimits())
    assert any(d.kind == "unreadable-archive" for d in archive.defects)


def test_garbage_7z_is_a_defect() -> None:
    archive = _archive(b"7z\xbc\xaf\x27\x1c" + b"\x00" * 100, "a.7z")
    expand_parts([archive], ArchiveLimits())
    assert [d.kind for d in archive.defects] == ["unreadable-archive"]


def test_zip_member_names_with_directories_only() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("dir/", b"")
    assert expand_parts([_archive(out.getvalue())], ArchiveLimits())[1:] == []


def _libarchive_bytes(fmt: str, members: dict[str, bytes], **options: str) -> bytes:
    import tempfile
    from pathlib import Path

    import libarchive

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a"
        with libarchive.file_writer(str(path), fmt, **options) as archive:  # type: ignore[arg-type]
            for name, data in members.items():
                archive.add_file_from_memory(name, len(data), data)
        return path.read_bytes()


def test_iso_image_members() -> None:
    iso = _libarchive_bytes("iso9660", {"HOADON.PDF": cm.EXE})
    archive = _archive(iso, "a.iso")
    assert archive.detection.type == "application/x-iso9660-image"
    members = expand_parts([archive], ArchiveLimits())
    assert [(m.member, m.detection.type) for m in members[1:]] == [
        ("HOADON.PDF", "application/x-dosexec")]


def test_libarchive_sees_encrypted_members() -> None:
    from policies.archives import _Budget, _libarchive_entries

    data = _libarchive_bytes("zip", {"a.pdf": cm.PDF}, options="zip:encryption=zipcrypt",
                             passphrase="secret")
    entries = list(_libarchive_entries(data, _Budget(ArchiveLimits())))
    assert [(e.name, e.is_encrypted) for e in entries] == [("a.pdf", True)]


def test_xz_tar() -> None:
    members = expand_parts([_archive(cm.tar_of({"x/a.exe": b"x"}, "w:xz"), "a.tar.xz")],
                           ArchiveLimits())
    assert [m.member for m in members[1:]] == ["a.tar", "a.tar/x/a.exe"]
