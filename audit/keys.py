"""Which checkpoint keys count: pins, this server's own key, and enrolled keys.

A checkpoint proves nothing by itself: anyone who can write the store can sign a
rewritten chain with a fresh key and store that key beside it. So ``verify`` trusts
only its *roots*, the keys the administrator pinned (``[audit]
checkpoint_public_keys``, or ``congvu audit verify --key``), or, with no pins, the
public half of this server's own ``audit-checkpoint.key``. A key the store enrolled
(``audit-key-enrolled``: a rotation, or another server writing to a shared store)
counts once a checkpoint of a key that already counts covers its enrolment event,
because that checkpoint signs the chain with the event in it.

Keys are named by their fingerprint, ``sha256:<hex>`` of the raw 32-byte Ed25519
public key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audit.chain import KEY_FILE, Checkpoint, CheckpointSigner
from audit.errors import KeyFileError
from audit.records import AdminEvent, AdminKind
from mailbase import UnsafeFileError, create_private, read_secret

PREFIX = "sha256:"
_HEX = frozenset("0123456789abcdef")


def fingerprint(public_key: str) -> str:
    """``sha256:<hex>`` of a raw Ed25519 public key given in hex.

    :raises ValueError: not 32 bytes of hex.
    """
    raw = bytes.fromhex(public_key)
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, not {len(raw)}")
    return PREFIX + hashlib.sha256(raw).hexdigest()


def parse_pin(text: str) -> str:
    """The fingerprint a pin names: ``sha256:<64 hex>`` as is, or a raw key in hex.

    :raises ValueError: neither form (the message says what is expected).
    """
    value = text.strip().lower()
    if value.startswith(PREFIX):
        digest = value.removeprefix(PREFIX)
        if len(digest) == 64 and set(digest) <= _HEX:
            return value
    elif len(value) == 64 and set(value) <= _HEX:
        return fingerprint(value)
    raise ValueError(
        f"{text!r} is not a checkpoint key: give sha256:<64 hex digits> (as `congvu audit "
        "checkpoint export` prints it) or the raw 32-byte Ed25519 public key in hex"
    )


def own_public_key(keys_dir: Path) -> str | None:
    """The public half (hex) of ``keys_dir/audit-checkpoint.key``; None if there is none.

    Never creates the key: an inspector's machine has none, and verify must not make one.

    :raises KeyFileError: the file exists but cannot be read, is refused by
        :func:`mailbase.read_secret`, or is not an Ed25519 key.
    """
    path = keys_dir / KEY_FILE
    if not path.exists():
        return None
    try:
        loaded = serialization.load_pem_private_key(read_secret(path), password=None)
    except UnsafeFileError as exc:
        raise KeyFileError(path, f"{exc.reason} (or run verify as the congvu user, or pin "
                           "the key with --key)") from exc
    except (ValueError, TypeError) as exc:
        raise KeyFileError(path, f"is not a PEM private key: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise KeyFileError(path, "is not an Ed25519 key")
    return CheckpointSigner(loaded).public_key


@dataclass(frozen=True, slots=True)
class KeyTrust:
    """The roots verify starts from: fingerprint -> why it is trusted."""

    roots: dict[str, str]
    is_pinned: bool

    @classmethod
    def pinned(cls, pins: Iterable[str], *, source: str = "pinned") -> KeyTrust:
        """Trust exactly these pins (``sha256:`` fingerprints or raw keys in hex).

        :raises ValueError: a pin is malformed.
        """
        return cls({parse_pin(p): source for p in pins}, is_pinned=True)

    @classmethod
    def own(cls, public_key: str) -> KeyTrust:
        """Trust this server's own key (hex), as with no pins configured."""
        return cls({fingerprint(public_key): "this server's own key, not pinned"},
                   is_pinned=False)

    @classmethod
    def from_config(cls, pins: Sequence[str], keys_dir: Path) -> KeyTrust:
        """The configured pins, or with none, this server's own checkpoint key.

        :raises KeyFileError: no pins and the own key exists but is unreadable.
        """
        if pins:
            return cls.pinned(pins, source="pinned in [audit] checkpoint_public_keys")
        own = own_public_key(keys_dir)
        return cls({}, is_pinned=False) if own is None else cls.own(own)

    def describe_roots(self) -> str:
        """What this trust starts from, for the report."""
        if not self.roots:
            return ("no key is trusted: this host has no audit-checkpoint.key and "
                    "[audit] checkpoint_public_keys is empty")
        return "; ".join(f"{fp} ({why})" for fp, why in sorted(self.roots.items()))


def enrolment_event(key: str, replaces: str | None, reason: str, actor: str) -> AdminEvent:
    """The ``audit-key-enrolled`` event naming ``key`` (hex), and the key it replaces."""
    details: dict[str, str | int | float | bool | None] = {"key": key, "reason": reason}
    if replaces is not None:
        details["replaces"] = replaces
    return AdminEvent(kind=AdminKind.KEY_ENROLLED, actor=actor, target=fingerprint(key),
                      details=details)



@dataclass(frozen=True, slots=True)
class Enrolment:
    """An ``audit-key-enrolled`` event: the key it enrols, and the key it replaces."""

    seq: int
    key: str
    replaces: str | None
    reason: str

    @classmethod
    def from_detail(cls, seq: int, detail: str) -> Enrolment | None:
        """Read one event's detail; None when it names no usable key (tampering shows
        elsewhere: the chain check covers the detail)."""
        try:
            data = json.loads(detail)
            key = fingerprint(str(data["key"]))
            old = data.get("replaces")
            replaces = fingerprint(str(old)) if old else None
        except (ValueError, KeyError, TypeError):
            return None
        return cls(seq, key, replaces, str(data.get("reason", "")))


@dataclass(slots=True)
class Accepted:
    """The keys whose checkpoints count, each with the reason, after the enrolments."""

    reasons: dict[str, str]
    not_pinned: list[str] = field(default_factory=list)

    def __contains__(self, fp: object) -> bool:
        return fp in self.reasons


def accept(trust: KeyTrust, checkpoints: Sequence[Checkpoint],
           enrolments: Sequence[Enrolment]) -> Accepted:
    """Grow the trusted roots by every enrolment a trusted checkpoint covers.

    An enrolment at record m counts when a valid checkpoint at record m or later is
    signed by a key that already counts: that checkpoint signs the chain with the
    enrolment in it. It then makes both the key it enrols and the key it replaces
    count (a rotation is vouched for by the old key, and names the old key for a
    verifier who trusts only the new one).
    """
    accepted = Accepted(dict(trust.roots))
    newest: dict[str, int] = {}
    for cp in checkpoints:
        fp = fingerprint(cp.public_key)
        newest[fp] = max(newest.get(fp, 0), cp.seq)
    pending = list(enrolments)
    changed = True
    while changed and pending:
        changed = False
        for item in list(pending):
            voucher = next((fp for fp in accepted.reasons if newest.get(fp, 0) >= item.seq),
                           None)
            if voucher is None:
                continue
            pending.remove(item)
            changed = True
            named = [(item.key, "enrolled"), *([(item.replaces, "replaced")]
                                                if item.replaces else [])]
            for key, how in named:
                if key is not None and key not in accepted:
                    accepted.reasons[key] = (
                        f"{how} at record {item.seq} ({item.reason or 'enrolment'}), "
                        f"confirmed by a checkpoint of {voucher}")
                    accepted.not_pinned.append(key)
    return accepted


def write_new_key(keys_dir: Path) -> tuple[Path, Ed25519PrivateKey]:
    """A fresh Ed25519 key written (0600, fsync'd) beside the current one, not yet in use.

    :raises KeyFileError: the file cannot be written.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = keys_dir / f".{KEY_FILE}.new.{os.getpid()}"
    try:
        path.unlink(missing_ok=True)
        fd = create_private(path)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise KeyFileError(path, f"cannot be written: {exc.strerror}") from exc
    return path, key


def public_hex(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The raw public key in hex."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()


SIGNATURE_FORMAT = "congvu-signature/1"


def sign_file_bytes(keys_dir: Path, data: bytes) -> str:
    """A detached signature (JSON text) of ``data`` by the checkpoint key in ``keys_dir``.

    Used for a backup's MANIFEST.json: whoever edits a backup cannot re-sign it
    without the key.

    :raises KeyFileError: the key cannot be loaded or created.
    """
    signer = CheckpointSigner.load_or_create(keys_dir)
    return json.dumps({"format": SIGNATURE_FORMAT, "key": fingerprint(signer.public_key),
                       "public_key": signer.public_key,
                       "signature": signer.sign_bytes(data)}, indent=2) + "\n"


def check_signature(text: str, data: bytes) -> str:
    """Check a detached signature made by :func:`sign_file_bytes`; return its key's
    fingerprint (whether that key is trusted is the caller's question).

    :raises ValueError: not such a signature, or one that does not match ``data``.
    """
    try:
        parsed = json.loads(text)
        if parsed.get("format") != SIGNATURE_FORMAT:
            raise ValueError(f"unknown format {parsed.get('format')!r}")
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(str(parsed["public_key"])))
        public.verify(bytes.fromhex(str(parsed["signature"])), data)
    except InvalidSignature as exc:
        raise ValueError("the signature does not match the file (it was changed)") from exc
    except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a congvu signature ({exc})") from exc
    return fingerprint(public_hex(public))
