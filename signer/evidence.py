"""The revocation evidence used, and fetched CA material, kept on disk.

Two things live under ``[signer.documents] store_dir`` (the data directory's
``documents/`` by default):

- ``evidence/<sha256>.<kind>``: each CRL or OCSP answer that a verdict rested on (and
  each issuer certificate fetched or needed to check them), kept once under the SHA-256
  of its bytes, so a verdict's ``revocation.crl.sha256`` names the exact file;
  written whole (fsync'd, renamed into place), never rewritten, so any number of
  worker processes can share the directory.
- ``cache/<sha256 of the URL>``: which evidence file a URL (or an OCSP question) last
  gave, so the next verification (or the next process) uses it while it is fresh: a
  CRL until its nextUpdate, an issuer certificate for 7 days. The entry is one JSON
  object: the evidence file, the URL, the issuer certificate that must have signed it
  (itself kept as evidence), the OCSP request, and when it was fetched; its
  modification time is when a verification last used it. ``congvu document trust
  refresh`` reads these entries to fetch again what is due (`signer.refresh`). An
  entry of an earlier release (one line: the evidence file) is still read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mailbase import write_private_durably

log = logging.getLogger("congvu.signer")

#: How long a fetched issuer certificate is used before it is fetched again.
CERTIFICATE_CACHE = dt.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """What a URL (or an OCSP question) last gave, as the cache index keeps it.

    ``issuer`` is the SHA-256 of the certificate that must have signed a CRL or OCSP
    answer (kept as evidence of kind ``crt``); ``request`` the DER of the OCSP request
    asked; both None for an issuer certificate, and for entries of an earlier release,
    which also have no ``url`` and are not refreshed.
    """

    key: str
    evidence: str  # <sha256>.<kind>
    url: str | None = None
    issuer: str | None = None
    request: bytes | None = None
    fetched_at: dt.datetime | None = None
    used_at: dt.datetime | None = None  # the index file's modification time

    @property
    def kind(self) -> str:
        """crl, ocsp or crt."""
        return self.evidence.partition(".")[2]

    @property
    def digest(self) -> str:
        """The SHA-256 of the evidence's bytes."""
        return self.evidence.partition(".")[0]


class EvidenceStore:
    """Content-addressed files under ``directory``; a write that fails is logged and
    the verification goes on (the verdict does not depend on the copy).

    Every file is written whole (temporary file, fsync, rename): a crash or a
    concurrent reader never sees part of one.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def keep(self, data: bytes, kind: str) -> str:
        """Store ``data`` once as ``evidence/<sha256>.<kind>``; return the SHA-256 (hex)."""
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest, kind)
        if not path.exists():
            self._write(path, data)
        return digest

    def path(self, digest: str, kind: str) -> Path:
        """Where the evidence with this SHA-256 lives."""
        return self.directory / "evidence" / f"{digest}.{kind}"

    def remember(self, key: str, digest: str, kind: str, *, url: str | None = None,
                 issuer: str | None = None, request: bytes | None = None,
                 used_at: dt.datetime | None = None) -> None:
        """Note that ``key`` (a URL, or an OCSP question) last gave the evidence
        ``digest``, fetched from ``url`` (default ``key``) now. ``used_at`` keeps the
        time a verification last used the entry (a refresh is not a use)."""
        entry = {"key": key, "evidence": f"{digest}.{kind}", "url": url or key,
                 "issuer": issuer,
                 "request": request.hex() if request is not None else None,
                 "fetched_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        index = self._index(key)
        self._write(index, json.dumps(entry, sort_keys=True).encode("ascii") + b"\n")
        if used_at is not None:
            try:
                os.utime(index, (used_at.timestamp(), used_at.timestamp()))
            except OSError as exc:
                log.warning("evidence index not dated path=%s error=%s", index,
                            exc.strerror or exc)

    def used(self, key: str) -> None:
        """Note that a verification used what ``key`` last gave (its index's mtime):
        ``trust refresh`` keeps fetching only what is in use."""
        # gone, or not ours to date: the refresh may let it lapse
        with contextlib.suppress(OSError):
            os.utime(self._index(key))

    def recall(self, key: str, *, max_age: dt.timedelta | None = None) -> bytes | None:
        """The bytes ``key`` last gave, or None (never fetched, gone, or fetched longer
        than ``max_age`` ago). Freshness by content (a CRL's nextUpdate) is the caller's."""
        entry = self.entry(key)
        if entry is None:
            return None
        if max_age is not None:
            fetched = entry.fetched_at or entry.used_at
            if fetched is None or dt.datetime.now(dt.UTC) - fetched > max_age:
                return None
        return self.read(entry.digest, entry.kind)

    def read(self, digest: str, kind: str) -> bytes | None:
        """The evidence with this SHA-256, or None when it is gone or its bytes no
        longer hash to its name (a changed file is not evidence)."""
        try:
            data = self.path(digest, kind).read_bytes()
        except (OSError, ValueError):
            return None
        return data if hashlib.sha256(data).hexdigest() == digest else None

    def entry(self, key: str) -> CacheEntry | None:
        """The cache index's entry for ``key``, or None."""
        return self._read_entry(self._index(key), key)

    def entries(self) -> Iterator[CacheEntry]:
        """Every readable entry of the cache index (their keys are hashed: an entry
        names its URL, an earlier release's does not and has ``key`` '')."""
        try:
            paths = sorted(p for p in (self.directory / "cache").iterdir()
                           if not p.name.startswith("."))
        except OSError:
            return
        for path in paths:
            entry = self._read_entry(path, "")
            if entry is not None:
                yield entry

    @staticmethod
    def _read_entry(index: Path, key: str) -> CacheEntry | None:
        try:
            text = index.read_text(encoding="ascii")
            used_at = dt.datetime.fromtimestamp(index.stat().st_mtime, dt.UTC)
        except (OSError, UnicodeDecodeError):
            return None
        if not text.startswith("{"):  # an earlier release: the evidence file's name
            name = text.strip()
            if not _is_evidence_name(name):
                return None
            return CacheEntry(key, name, used_at=used_at)
        try:
            data = json.loads(text)
            name = data["evidence"]
            request = bytes.fromhex(data["request"]) if data.get("request") else None
            fetched = (dt.datetime.fromisoformat(data["fetched_at"])
                       if data.get("fetched_at") else None)
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(name, str) or not _is_evidence_name(name):
            return None
        url, issuer, stored_key = (data.get(k) if isinstance(data.get(k), str) else None
                                   for k in ("url", "issuer", "key"))
        return CacheEntry(key or stored_key or "", name, url, issuer, request, fetched,
                          used_at)

    def _index(self, key: str) -> Path:
        return self.directory / "cache" / hashlib.sha256(key.encode("utf-8")).hexdigest()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_private_durably(path, data)
        except OSError as exc:
            log.warning("evidence not kept path=%s error=%s", path, exc.strerror or exc)


def _is_evidence_name(name: str) -> bool:
    digest, _, kind = name.partition(".")
    return (len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
            and kind in ("crl", "ocsp", "crt"))
