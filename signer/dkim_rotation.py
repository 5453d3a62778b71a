"""DKIM key rotation: dated selectors whose keys sign only once their record is published.

The keys' states live in a small JSON state file under the data directory, or in
PostgreSQL for several servers (signer/rotation_store.py says where and when it is
read), changed only by the ``congvu dkim`` commands and read by the signer at startup
and on SIGHUP:

    pending   made by ``dkim rotate``; its record is printed; it never signs
    active    ``dkim check`` saw its record published with this very key: it signs
    retiring  replaced by a newer active key of the same algorithm: it still signs
              until ``retire_at`` (the grace period, so mail signed with either
              verifies while caches and queued mail catch up)
    retired   no longer signs; its record may be removed from DNS after a while

So a key whose record is not published cannot sign by accident: only ``dkim check``,
after reading the record from DNS and comparing it with the key, makes a key active.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from mailbase import private_dir, write_private_durably
from signer.errors import SignerError
from signer.keys import Algorithm, generate_private_key, write_private_key


class KeyState(Enum):
    """Where a rotated key is in its life."""

    PENDING = "pending"
    ACTIVE = "active"
    RETIRING = "retiring"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class RotatedKey:
    """One selector made by ``dkim rotate`` and its state; times are UTC ISO-8601."""

    domain: str
    selector: str
    algorithm: str
    key_file: str
    state: KeyState
    created: str
    activated: str | None = None
    retire_at: str | None = None

    def is_signing(self, now: dt.datetime) -> bool:
        """Whether this key signs at ``now``: active, or retiring within its grace."""
        if self.state is KeyState.ACTIVE:
            return True
        return self.state is KeyState.RETIRING and self.retire_at is not None \
            and dt.datetime.fromisoformat(self.retire_at) > now


class RotationStateError(SignerError):
    """The rotation state file cannot be read or written, or a step is not allowed."""


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


class RotationState:
    """The rotation state file: load, change through the verbs, save atomically."""

    def __init__(self, path: Path, keys: list[RotatedKey] | None = None) -> None:
        self.path = Path(path)
        self.keys: list[RotatedKey] = list(keys or [])

    @classmethod
    def load(cls, path: Path) -> RotationState:
        """Read the state file; a missing file is an empty state.

        :raises RotationStateError: unreadable or malformed file.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise RotationStateError(f"DKIM rotation state {path}: cannot read it: {exc}") from exc
        try:
            keys = [RotatedKey(**{**entry, "state": KeyState(entry["state"])})
                    for entry in data["keys"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise RotationStateError(f"DKIM rotation state {path}: malformed: {exc}") from exc
        return cls(path, keys)

    def save(self) -> None:
        """Write the state so that a crash leaves the old or the new one (temporary file,
        fsync, rename, directory fsync), ``0600``: it says which key signs, so only the
        service may change it. A missing directory is made ``0700``."""
        private_dir(self.path.parent, tighten=False)
        write_private_durably(self.path, json.dumps(self.as_json(), indent=2).encode("utf-8"))

    def as_json(self) -> dict[str, Any]:
        """The state as the file holds it (the stored state values, never renamed)."""
        return {"keys": [{**asdict(k), "state": k.state.value} for k in self.keys]}

    def for_domain(self, domain: str) -> list[RotatedKey]:
        """The domain's rotated keys, oldest first."""
        wanted = domain.lower().rstrip(".")
        return [k for k in self.keys if k.domain == wanted]

    def signing(self, now: dt.datetime) -> list[RotatedKey]:
        """The keys that sign at ``now``."""
        return [k for k in self.keys if k.is_signing(now)]

    def rotate(self, domain: str, algorithm: Algorithm, key_dir: Path, now: dt.datetime, *,
               bits: int = 2048) -> RotatedKey:
        """Make a new dated selector (pending) and its key file.

        :raises RotationStateError: a pending key of this algorithm already waits.
        """
        domain = domain.lower().rstrip(".")
        for key in self.for_domain(domain):
            if key.state is KeyState.PENDING and key.algorithm == algorithm.value:
                raise RotationStateError(
                    f"selector {key.selector} of {domain} is still pending: publish its "
                    "record and run `congvu dkim check` first")
        prefix = "r" if algorithm is Algorithm.RSA_SHA256 else "e"
        base = f"{prefix}{now.astimezone(dt.UTC):%Y%m%d}"
        taken = {k.selector for k in self.for_domain(domain)}
        selector = base
        for n in range(2, 100):
            if selector not in taken and not (key_dir / f"{selector}.{domain}.pem").exists():
                break
            selector = f"{base}n{n}"
        private_dir(key_dir)  # its missing parents too: mkdir would give them the umask
        path = key_dir / f"{selector}.{domain}.pem"
        write_private_key(generate_private_key(algorithm, bits=bits), path)
        entry = RotatedKey(domain, selector, algorithm.value, str(path), KeyState.PENDING,
                           created=_iso(now))
        self.keys.append(entry)
        return entry

    def activate(self, domain: str, selector: str, now: dt.datetime,
                 grace: dt.timedelta) -> list[str]:
        """A pending key seen published becomes active; older ones of its algorithm retire.

        Only ``dkim check`` calls this, after comparing the published record with the key.
        Returns what changed, in words.
        """
        changes: list[str] = []
        target = self._find(domain, selector)
        if target.state is not KeyState.PENDING:
            return changes
        for i, key in enumerate(self.keys):
            if key.domain == target.domain and key.algorithm == target.algorithm \
                    and key.state is KeyState.ACTIVE:
                self.keys[i] = replace(key, state=KeyState.RETIRING,
                                       retire_at=_iso(now + grace))
                changes.append(f"{key.selector}: retiring, signs until {_iso(now + grace)}")
        index = self.keys.index(target)
        self.keys[index] = replace(target, state=KeyState.ACTIVE, activated=_iso(now))
        changes.append(f"{selector}: active, signs from now on")
        return changes

    def expire(self, now: dt.datetime) -> list[str]:
        """Retiring keys past their grace period become retired."""
        changes = []
        for i, key in enumerate(self.keys):
            if key.state is KeyState.RETIRING and not key.is_signing(now):
                self.keys[i] = replace(key, state=KeyState.RETIRED)
                changes.append(f"{key.selector}: retired (its record may be removed later)")
        return changes

    def _find(self, domain: str, selector: str) -> RotatedKey:
        for key in self.for_domain(domain):
            if key.selector == selector:
                return key
        raise RotationStateError(f"no rotated selector {selector} for {domain}")
