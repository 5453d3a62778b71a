"""LibreOffice headless (Debian's libreoffice-*-nogui) as an independent reader of the
Office files congvu writes: it prints them to PDF, which pdftotext reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SOFFICE = shutil.which("soffice")


def pdf_text(source: Path, workdir: Path) -> str:
    """The text of LibreOffice's PDF of ``source``, as ``pdftotext -layout`` reads it.

    Each call uses a profile of its own under ``workdir`` (LibreOffice refuses a
    profile another instance holds).
    """
    assert SOFFICE is not None, "LibreOffice is not installed"
    profile = workdir / f"lo-profile-{source.stem}-{source.suffix[1:]}"
    out = workdir / f"pdf-{source.suffix[1:]}"
    subprocess.run([SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, timeout=600)
    return subprocess.run(["pdftotext", "-layout", str(out / f"{source.stem}.pdf"), "-"],
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
