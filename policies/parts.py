"""The parts of one message, read once and shared.

The policy stage decides on them, the documents stage verifies the documents among
the attachments and the audit record lists them: one walk (with the configured
limits), one content detection per leaf and one listing of each archive, made by
whoever asks first, so that all three see the same parts with the same sha256.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from mailbase import HeaderBlock
from policies.archives import ArchiveLimits, expand_parts
from policies.detect import detect
from policies.edxml import read_edxml
from policies.errors import PolicyError
from policies.model import Attachment, Part
from policies.walk import Walk, WalkLimits, walk


@dataclass(frozen=True, slots=True)
class MessageParts:
    """What the walk found in one message, each leaf's content detected and each
    archive listed: ``parts`` holds the leaves followed by archive members, in walk
    order; ``attachments`` describes those that are attachments (archive members are),
    each with its sha256, and ``attached`` holds those parts in the same order."""

    walk: Walk
    parts: tuple[Part, ...]
    attachments: tuple[Attachment, ...]
    attached: tuple[Part, ...]


def read_parts(raw: bytes, *, walk_limits: WalkLimits | None = None,
               archive_limits: ArchiveLimits | None = None,
               header: HeaderBlock | None = None) -> MessageParts:
    """Walk ``raw``, detect what each leaf is and list its archives.

    ``header`` is ``raw``'s header block as :func:`mailbase.read_header` read it (read
    here when not given). Never raises on malformed input: it becomes defects.

    :raises ValueError: ``header`` was read from other bytes.
    :raises PolicyError: only when the walk itself fails (a bug or no memory).
    """
    if header is not None:
        header.body(raw)  # the misuse check: the block must be this message's
    try:
        return _read(raw, walk_limits, archive_limits, header)
    except Exception as exc:  # the contract, as decide's: nothing but PolicyError
        raise PolicyError(f"the MIME walk failed on this message: {exc!r}") from exc


def _read(raw: bytes, walk_limits: WalkLimits | None, archive_limits: ArchiveLimits | None,
          header: HeaderBlock | None) -> MessageParts:
    found = walk(raw, walk_limits, header=header)
    for part in found.parts:
        part.detection = detect(part.data, is_attachment=part.is_attachment)
    parts = tuple(expand_parts(found.parts, archive_limits or ArchiveLimits()))
    attached = tuple(part for part in parts if part.is_attachment)
    attachments = tuple(
        Attachment(
            path=part.path,
            member=part.member,
            filename=part.filenames[0] if part.filenames else None,
            content_type=part.content_type,
            detected_type=part.detection.type,
            size=part.size,
            sha256=hashlib.sha256(part.data).hexdigest(),
            edxml=read_edxml(part.data),
        )
        for part in attached
    )
    return MessageParts(found, parts, attachments, attached)


class SharedParts:
    """The parts of one message: read on first use, then kept for every later reader.

    Thread-safe: a stage may read them in a worker thread while another waits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: bytes | None = None
        self._limits: tuple[WalkLimits, ArchiveLimits] | None = None
        self._found: MessageParts | None = None

    @property
    def found(self) -> MessageParts | None:
        """The parts as first read, or None when nothing asked for them yet."""
        return self._found

    def kept(self, raw: bytes) -> tuple[MessageParts, WalkLimits] | None:
        """The parts kept and the walk limits they were read with, when they were read
        from ``raw`` (the same object or equal bytes); None otherwise."""
        with self._lock:
            if self._found is None or self._limits is None or not (
                    raw is self._raw or raw == self._raw):
                return None
            return self._found, self._limits[0]

    def read(self, raw: bytes, *, walk_limits: WalkLimits, archive_limits: ArchiveLimits,
             header: HeaderBlock | None = None) -> MessageParts:
        """The parts of ``raw``: those already read when they were read from the same
        bytes with the same limits, else read now (and kept if they are the first).

        :raises ValueError: ``header`` was read from other bytes.
        :raises PolicyError: the walk itself failed (see :func:`read_parts`).
        """
        limits = (walk_limits, archive_limits)
        with self._lock:
            if self._found is not None and self._limits == limits and (
                    raw is self._raw or raw == self._raw):
                return self._found
            found = read_parts(raw, walk_limits=walk_limits, archive_limits=archive_limits,
                               header=header)
            if self._found is None:
                self._raw, self._limits, self._found = raw, limits, found
            return found
