"""The revocation evidence used, and fetched CA material, kept on disk.

Two things live under ``[signer.documents] store_dir`` (the data directory's
``documents/`` by default):

- ``evidence/<sha256>.<kind>``: each CRL (or issuer certificate) that a verdict rested
  on, kept once under the SHA-256 of its bytes, so a verdict's ``revocation.crl.sha256``
  names the exact file; written atomically, never rewritten, so any number of worker
  processes can share the directory.
- ``cache/<sha256 of the URL>``: which evidence file a URL last gave, so the next
  verification (or the next process) uses it while it is fresh: a CRL until its
  nextUpdate, an issuer certificate for 7 days.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("congvu.signer")

#: How long a fetched issuer certificate is used before it is fetched again.
CERTIFICATE_CACHE = dt.timedelta(days=7)


class EvidenceStore:
    """Content-addressed files under ``directory``; a write that fails is logged and
    the verification goes on (the verdict does not depend on the copy)."""

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

    def remember(self, url: str, digest: str, kind: str) -> None:
        """Note that ``url`` last gave the evidence ``digest``."""
        self._write(self._index(url), f"{digest}.{kind}\n".encode("ascii"))

    def recall(self, url: str, *, max_age: dt.timedelta | None = None) -> bytes | None:
        """The bytes ``url`` last gave, or None (never fetched, gone, or older than
        ``max_age``). Freshness by content (a CRL's nextUpdate) is the caller's."""
        index = self._index(url)
        try:
            if max_age is not None:
                age = dt.datetime.now(dt.UTC).timestamp() - index.stat().st_mtime
                if age > max_age.total_seconds():
                    return None
            name = index.read_text(encoding="ascii").strip()
            if "/" in name or not name:
                return None
            data = (self.directory / "evidence" / name).read_bytes()
        except (OSError, UnicodeDecodeError):
            return None
        # the file is named by its hash: a changed file is not evidence
        if hashlib.sha256(data).hexdigest() != name.split(".", 1)[0]:
            return None
        return data

    def _index(self, url: str) -> Path:
        return self.directory / "cache" / hashlib.sha256(url.encode("utf-8")).hexdigest()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                os.chmod(tmp, 0o644)
                os.replace(tmp, path)
            except BaseException:
                os.unlink(tmp)
                raise
        except OSError as exc:
            log.warning("evidence not kept path=%s error=%s", path, exc.strerror or exc)
