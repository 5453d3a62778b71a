"""An event made ready to append before the chain's write lock is taken: its rows, and
all of its hash but the link to the row before it.

A write holds the lock (SQLite's, or the shared store's advisory lock) from reading the
chain head to its commit, and that time bounds how many records every writer together
commits per second. Everything that does not depend on the head is therefore done
before the lock: the rows (the detail's canonical JSON, the folded words), and the
canonical text of the hashed columns split around ``prev_hash`` (the only hashed value
that depends on the head; ``seq`` is not hashed), with the SHA-256 state of the part
before it. Under the lock, linking an event is a copy of that state, two updates and a
digest: the same hash :func:`~audit.chain.row_hash` gives (the chain's test vectors
hold the store to it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from audit.chain import canonical
from audit.records import AuditRecord, Completion
from audit.rows import Rows, admin_rows, completion_rows, message_rows
from audit.schema import HASHED_COLUMNS

if TYPE_CHECKING:
    from hashlib import _Hash

    from audit.interface import Item

_PREV = "prev_hash"
_PREV_KEY = f'"{_PREV}":"'.encode("ascii")
_HASHED = frozenset(HASHED_COLUMNS)


def rows_of(item: Item) -> Rows:
    """The rows of one event (``seq``, ``prev_hash`` and ``hash`` left to the store)."""
    if isinstance(item, AuditRecord):
        return message_rows(item)
    if isinstance(item, Completion):
        return completion_rows(item)
    return admin_rows(item)


@dataclass(slots=True)
class Pending:
    """One event's rows and its hash up to ``prev_hash`` (see the module's docstring)."""

    item: Item
    rows: Rows
    before: _Hash
    after: bytes
    #: the text whose SHA-256 state ``before`` is (for a store whose server links rows)
    prefix: bytes

    @classmethod
    def of(cls, item: Item) -> Pending:
        """Build ``item``'s rows and hash them as far as they go without the head."""
        rows = rows_of(item)
        # the canonical text of the hashed columns (each only when not NULL, as row_hash
        # leaves them out) with an empty prev_hash, cut inside its quotes: its keys are
        # sorted and in no column's JSON can a quote stand unescaped, so the first
        # '"prev_hash":"' is the key's (one encoding of the row, not one of each part)
        hashed = {c: v for c, v in rows.event.items() if v is not None and c in _HASHED}
        hashed[_PREV] = ""
        text = canonical(hashed).encode("utf-8", "surrogatepass")
        cut = text.index(_PREV_KEY) + len(_PREV_KEY)
        prefix = text[:cut]
        return cls(item, rows, hashlib.sha256(prefix), text[cut:], prefix)

    def link(self, prev: str) -> str:
        """The event's hash when it follows the row whose hash is ``prev``."""
        digest = self.before.copy()
        digest.update(prev.encode("ascii"))
        digest.update(self.after)
        return digest.hexdigest()

    @property
    def event(self) -> dict[str, Any]:
        """The chained row's columns but ``seq``, ``prev_hash`` and ``hash``."""
        return self.rows.event


class Linked(NamedTuple):
    """A pending event given its place in the chain, under the lock."""

    seq: int
    prev_hash: str
    hash: str
    pending: Pending
