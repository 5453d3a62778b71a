"""Cross-check with poppler's pdfsig (an independent verifier, Debian poppler-utils).

Integrity only: pdfsig's certificate check (NSS) answers "Unknown issue with
Certificate" for the test PKI even with its root trusted in an NSS database where
`certutil -V -u S` calls the signer valid, so the chain is not compared here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from signer.documents import DocumentVerdict, DocumentVerifier
from support.documents import (
    alter_page,
    flip_in_first_revision,
    plain_pdf,
    sign_pdf,
    sign_pdf_sha1_form,
)
from support.smime import cast

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("pdfsig") is None,
                                 reason="pdfsig (poppler-utils) is not installed")]


def pdfsig(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    run = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True,
                         text=True, timeout=60, check=False)
    return run.stdout


def test_valid_signature_agrees_with_pdfsig(tmp_path: Path) -> None:
    data = sign_pdf(plain_pdf(), cast().alice)
    out = pdfsig(tmp_path, data)
    assert "Signature is Valid." in out and "Total document signed" in out
    sig = DocumentVerifier(cast().trust()).verify(data).signatures[0]
    assert (sig.verdict, sig.coverage) == (DocumentVerdict.VALID, "entire-file")


def test_broken_signature_agrees_with_pdfsig(tmp_path: Path) -> None:
    data = flip_in_first_revision(sign_pdf(plain_pdf(), cast().alice), b"trang 1", b"trang 7")
    assert "Digest Mismatch." in pdfsig(tmp_path, data)
    sig = DocumentVerifier(cast().trust()).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.INVALID


def test_later_update_agrees_with_pdfsig(tmp_path: Path) -> None:
    data = alter_page(sign_pdf(plain_pdf(), cast().alice))
    out = pdfsig(tmp_path, data)
    # pdfsig: the bytes signed are intact, but the signature no longer covers the file
    assert "Signature is Valid." in out and "Not total document signed" in out
    sig = DocumentVerifier(cast().trust()).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.MODIFIED


def test_adbe_pkcs7_sha1_form_agrees_with_pdfsig(tmp_path: Path) -> None:
    data = sign_pdf_sha1_form(plain_pdf(), cast().alice)
    out = pdfsig(tmp_path, data)
    assert "adbe.pkcs7.sha1" in out and "Signature is Valid." in out
    # both read the form and find it intact; congvu refuses the SHA-1 digest it rests
    # on (a weak algorithm in the document's own signature fails), pdfsig accepts it
    sig = DocumentVerifier(cast().trust()).verify(data).signatures[0]
    assert (sig.verdict, sig.format) == (DocumentVerdict.INVALID, "adbe.pkcs7.sha1")
    assert "SHA-1, a weak digest" in sig.reason
