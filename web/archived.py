"""Archived messages in the console: whose content a user may read, their text for a
search, and the proof bundle a download carries.

A user reads content only of the units a grant of content names (``congvu user grant
NAME UNIT --content``), the units below them and those they succeed, and only where
the user's grants reach as well (administrators: where content is granted). A
message is a unit's when the unit sent it or received it (a From that merely claims a
unit does not make the message that unit's).

The search reads the archived bytes themselves (there is no text index): the subject,
the text/plain parts and the text of PDFs up to :data:`PDF_MAX` bytes, folded as the
directory's search folds (case and diacritics ignored), every word of the query
required. It reads the newest messages of the scope first and stops after
:data:`SCANNED_MAX` of them, and says so.
"""

from __future__ import annotations

import io
import json
import logging
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesParser
from typing import Any

from pypdf import PdfReader

from archive import Archive, ArchiveError, Bundle, bundle_files
from audit import AuditLog
from directory import Unit
from mailbase import fold
from web import access
from web.users import User

#: the largest PDF whose text a search reads (bytes, decoded)
PDF_MAX = 5 * 1024 * 1024
#: how many archived messages one search reads at most, newest first
SCANNED_MAX = 2000
#: how many matches one search lists at most
MATCHES_MAX = 100

# pypdf logs a warning for every oddity of a malformed file; a search only wants text
logging.getLogger("pypdf").setLevel(logging.ERROR)
_PARSER = BytesParser()


def content_scope(user: User, units: Sequence[Unit]) -> frozenset[str]:
    """The units whose archived messages ``user`` may read (empty: none)."""
    granted = access.covered(units, user.content_units) if user.content_units else frozenset()
    if user.is_admin:
        return granted
    return granted & access.covered(units, user.units)


def message_units(record: dict[str, Any]) -> set[str]:
    """The units a message record's content belongs to: its sender's and its
    recipients'."""
    units = set(record.get("recipient_units") or ())
    if record.get("sender_unit"):
        units.add(str(record["sender_unit"]))
    return units


def message_text(raw: bytes) -> str:
    """What a search reads of a message: its subject, its text/plain parts and the text
    of its PDFs (up to :data:`PDF_MAX` each), one after the other."""
    # compat32 parses a 10 KB message three to five times faster than policy.default;
    # only the subject needs decoding (RFC 2047), done here
    message = _PARSER.parsebytes(raw)
    found = [_subject(message.get("subject"))]
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                found.append(_decoded(data, part.get_content_charset()))
        elif (content_type == "application/pdf"
              or (part.get_filename() or "").lower().endswith(".pdf")):
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and len(data) <= PDF_MAX:
                found.append(_pdf_text(data))
    return "\n".join(found)


def _subject(value: object) -> str:
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (LookupError, UnicodeError, ValueError, HeaderParseError):
        return str(value)  # an unknown or lying charset: the words still readable


def _decoded(data: bytes, charset: str | None) -> str:
    try:
        return data.decode(charset or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return data.decode("utf-8", "replace")


def _pdf_text(data: bytes) -> str:
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            return ""
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    # pypdf raises many kinds of error on a malformed file (its own, ValueError,
    # KeyError, RecursionError...): a file it cannot read has no text to find
    except Exception:
        return ""


@dataclass(frozen=True, slots=True)
class Found:
    """What one search found: the matching records (newest first), how many messages
    of the scope it read and how many the scope has."""

    record_ids: list[int]
    scanned: int
    candidates: int
    unreadable: int

    @property
    def is_complete(self) -> bool:
        """Whether every message of the scope was read (or enough were to fill the
        list)."""
        return self.scanned == self.candidates or len(self.record_ids) == MATCHES_MAX


def query_words(query: str) -> list[str]:
    """The folded words of a search. :raises ValueError: it has none."""
    words = fold(query).split()
    if not words:
        raise ValueError("the search has no words")
    return words


def search(log: AuditLog, store: Archive, scope: Iterable[str], words: Sequence[str], *,
           since: datetime | None = None, until: datetime | None = None) -> Found:
    """The archived messages of ``scope`` received in [since, until) whose text holds
    every one of ``words`` (folded), newest first, reading at most
    :data:`SCANNED_MAX` of them and listing at most :data:`MATCHES_MAX`.

    :raises AuditError: the log cannot be read.
    """
    units = frozenset(scope)
    candidates = [r for r in log.archived(since=since)
                  if r.sha256 is not None and (until is None or r.received_at < until)
                  and units.intersection(r.units)]
    candidates.sort(key=lambda r: r.record_id, reverse=True)
    matched: list[int] = []
    unreadable = scanned = 0
    skeletons = [_skeleton(word) for word in words]
    for record in candidates[:SCANNED_MAX]:
        assert record.sha256 is not None
        scanned += 1
        try:
            text = message_text(store.get(record.sha256))
        except ArchiveError:
            unreadable += 1  # pruned, missing or changed: archive verify names it
            continue
        # most messages lack a word: the cheap skeleton refuses them before the fold
        skeleton = _skeleton(text)
        if not all(part in skeleton for part in skeletons):
            continue
        folded = fold(text)
        if all(word in folded for word in words):
            matched.append(record.record_id)
            if len(matched) == MATCHES_MAX:
                break
    return Found(matched, scanned, len(candidates), unreadable)


def _skeleton(text: str) -> str:
    """The ASCII characters of ``fold(text)``, at a fifth of its cost: decomposed, đ
    mapped, case folded, everything else than ASCII dropped (combining marks among it).
    Dropping characters keeps a substring a substring, so a word whose skeleton is not
    in the text's skeleton is not in the folded text."""
    decomposed = unicodedata.normalize("NFD", text).replace("đ", "d").replace("Đ", "D")
    return decomposed.casefold().encode("ascii", "ignore").decode("ascii")


def proof_zip(record_id: int, message: bytes, proof: dict[str, Any]) -> bytes:
    """The proof bundle of ``record_id`` (what ``congvu archive proof`` writes) as a zip
    file, ``proof`` as :meth:`audit.AuditLog.proof` gives it."""
    checkpoint = json.loads(proof["checkpoint"].to_json())
    checkpoint.pop("format")
    files = bundle_files(Bundle(record_id, message, {**proof, "checkpoint": checkpoint}))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in files.items():
            bundle.writestr(f"{record_id}/{name}", data)
    return out.getvalue()
