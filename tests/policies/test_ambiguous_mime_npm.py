"""The ambiguous-MIME corpus read by the JavaScript parsers webmail and mail tools use:
postal-mime and Nodemailer's mailparser, installed from tests/js/package-lock.json by
``make test`` and run with Node. Their APIs give the attachments a person is offered,
not the MIME tree, so their recorded readings are those attachments: every name they
show must be one congvu checks (test_ambiguous_mime.py holds that for every reading
recorded), and what they show here must still be what is recorded."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .test_ambiguous_mime import CASES, CORPUS, expected

pytestmark = pytest.mark.interop

JS = Path(__file__).resolve().parents[1] / "js"
READERS = ("postal-mime", "mailparser")


@pytest.fixture(scope="module")
def readings() -> dict[str, Any]:
    """Each case's readings by the two parsers, one Node process for the whole corpus."""
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "postal-mime").is_dir():
        pytest.skip("LOUD SKIP: the JavaScript readings of the corpus need Node and "
                    "`npm ci --prefix tests/js` (make test runs it)")
    files = [str(CORPUS / f"{case}.eml") for case in CASES]
    done = subprocess.run([node, str(JS / "mime-leaves.mjs"), *files], cwd=JS,
                          capture_output=True, check=True, timeout=120)
    by_file: dict[str, Any] = json.loads(done.stdout)
    return {Path(path).stem: found for path, found in by_file.items()}


@pytest.mark.parametrize("case", CASES)
def test_the_javascript_parsers_read_the_case_as_recorded(
        case: str, readings: dict[str, Any]) -> None:
    recorded = expected(case)["readings"]
    assert readings[case] == {reader: recorded[reader] for reader in READERS}


def test_the_javascript_parsers_disagree_where_the_corpus_says_so(
        readings: dict[str, Any]) -> None:
    def names(case: str, reader: str) -> set[str]:
        return {n for leaf in readings[case][reader] for n in leaf[2]}

    # a boundary quoted with a trailing space: mailparser finds the program, postal-mime
    # (like Dovecot) finds no parts at all
    assert "setup.exe" in names("boundary-quoted-trailing-space", "mailparser")
    assert names("boundary-quoted-trailing-space", "postal-mime") == set()
    # a forwarded message in base64: postal-mime decodes it and offers the program inside
    assert "setup.exe" in names("forwarded-message-base64", "postal-mime")
    assert names("forwarded-message-base64", "mailparser") == set()
    # a spaced media type: mailparser still finds the program behind it
    assert "setup.exe" in names("media-type-spaced", "mailparser")
