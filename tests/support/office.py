"""LibreOffice headless (Debian's libreoffice-*-nogui) as an independent reader of the
Office files congvu writes: it prints them to PDF, which pdftotext reads."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from pathlib import Path

import docx
import pytest

from support.documents import pdf_of

SOFFICE = shutil.which("soffice")


def to_pdf(source: Path, workdir: Path) -> Path:
    """LibreOffice's PDF of ``source``, written under ``workdir`` (once).

    Each call uses a profile of its own under ``workdir`` (LibreOffice refuses a
    profile another instance holds).
    """
    assert SOFFICE is not None, "LibreOffice is not installed"
    profile = workdir / f"lo-profile-{source.stem}-{source.suffix[1:]}"
    out = workdir / f"pdf-{source.suffix[1:]}"
    if (out / f"{source.stem}.pdf").exists():
        return out / f"{source.stem}.pdf"
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, timeout=600)
    return out / f"{source.stem}.pdf"


def pdf_text(source: Path, workdir: Path, *, layout: bool = True) -> str:
    """The text of LibreOffice's PDF of ``source``, as ``pdftotext`` reads it: kept in
    its columns (``-layout``: a table's rows on their lines), or in reading order (a
    table cell's wrapped lines together)."""
    pdf = to_pdf(source, workdir)
    return subprocess.run(["pdftotext", *(["-layout"] if layout else []), str(pdf), "-"],
                          check=True, capture_output=True, text=True, timeout=120).stdout


def need_libreoffice() -> None:
    """Fail as root (``make system-deps`` installs LibreOffice and poppler-utils from
    deploy/debian-packages.txt); without root, skip and say why."""
    if SOFFICE is not None and shutil.which("pdftotext") is not None:
        return
    reason = ("LibreOffice (libreoffice-writer-nogui, libreoffice-calc-nogui) and pdftotext "
              "(poppler-utils) are needed to print the filed report")
    if os.geteuid() == 0:
        pytest.fail(f"{reason}: make system-deps installs them")
    pytest.skip(f"LOUD SKIP: {reason}")


def text_pdf(lines: list[str]) -> bytes:
    """A one-page PDF that writes ``lines`` with a font whose ToUnicode map gives
    their characters back (any Unicode: one byte code per distinct character, at most
    200), as word processors' PDFs do; no lines: a page without text, as a scan's."""
    chars = sorted({c for line in lines for c in line})
    assert len(chars) <= 200
    code = {c: i + 1 for i, c in enumerate(chars)}
    shown = " ".join(f"<{''.join(f'{code[c]:02x}' for c in line)}> Tj T*" for line in lines)
    content = f"BT /F1 14 Tf 16 TL 72 780 Td {shown} ET".encode() if lines else b"q Q"
    pairs = " ".join(f"<{code[c]:02x}> <{c.encode('utf-16-be').hex()}>" for c in chars)
    cmap = (f"/CIDInit /ProcSet findresource begin 12 dict begin begincmap "
            f"/CMapName /Adobe-Identity-UCS def /CMapType 2 def 1 begincodespacerange <00> "
            f"<ff> endcodespacerange {len(chars)} beginbfchar {pairs} endbfchar endcmap "
            f"CMapName currentdict /CMap defineresource pop end end").encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    ]
    return pdf_of(objects)


def docx_with(paragraphs: list[str]) -> bytes:
    """A Word document (python-docx) of ``paragraphs``."""
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
