"""The archive of official mail: the exact bytes of each relayed message, kept once.

milter/'s ``archive`` stage stores the bytes that leave (after signing) in an
:class:`Archive` before the message's audit record commits, and the record carries
their SHA-256, so the hash chain proves the archived bytes. ``congvu archive get`` and
``verify`` read it back, ``prune`` applies the retention classes (archive/README.md);
the console's search asks its text index (:class:`TextIndex`, fed by a
:class:`TextReader` the root gives: archive/index.py).
The archive is a directory under the data directory, or, with ``[store] url``, a
PostgreSQL database every mail server shares (:class:`PgArchive`).
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from archive.cli import Records, commands
    from archive.config import ArchiveConfig, RetentionClass
    from archive.errors import ArchiveError, ArchiveReadError, ArchiveWriteError
    from archive.holds import Hold
    from archive.index import TEXT_MAX, Query, TextIndex, TextReader, index_words, parse_query
    from archive.keys import retired_key_paths
    from archive.migrate import Copied, copy_to_postgresql
    from archive.pgstore import PgArchive
    from archive.proof import Bundle, bundle_files
    from archive.retention import ArchivedMessage, Expired, Retention
    from archive.store import Archive, Reindexed, Stored, is_sha256
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "archive.cli": ("Records", "commands"),
        "archive.config": ("ArchiveConfig", "RetentionClass"),
        "archive.errors": ("ArchiveError", "ArchiveReadError", "ArchiveWriteError"),
        "archive.holds": ("Hold",),
        "archive.index": (
            "TEXT_MAX", "Query", "TextIndex", "TextReader", "index_words", "parse_query",
        ),
        "archive.keys": ("retired_key_paths",),
        "archive.migrate": ("Copied", "copy_to_postgresql"),
        "archive.pgstore": ("PgArchive",),
        "archive.proof": ("Bundle", "bundle_files"),
        "archive.retention": ("ArchivedMessage", "Expired", "Retention"),
        "archive.store": ("Archive", "Reindexed", "Stored", "is_sha256"),
    })

__all__ = [
    "TEXT_MAX",
    "Archive",
    "ArchiveConfig",
    "ArchiveError",
    "ArchiveReadError",
    "ArchiveWriteError",
    "ArchivedMessage",
    "Bundle",
    "Copied",
    "Expired",
    "Hold",
    "PgArchive",
    "Query",
    "Records",
    "Reindexed",
    "Retention",
    "RetentionClass",
    "Stored",
    "TextIndex",
    "TextReader",
    "bundle_files",
    "commands",
    "copy_to_postgresql",
    "index_words",
    "is_sha256",
    "parse_query",
    "retired_key_paths",
]
