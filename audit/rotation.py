"""``congvu audit key rotate``: replace the checkpoint key, vouched for by the old one."""

from __future__ import annotations

import os

from audit.chain import KEY_FILE, CheckpointSigner
from audit.config import AuditConfig
from audit.errors import KeyFileError
from audit.keys import fingerprint, write_new_key
from audit.store import AuditLog


def rotate_key(config: AuditConfig, *, actor: str) -> tuple[str, str]:
    """Rotate the configured store's checkpoint key; return the old and new fingerprints.

    The new key is written (0600, fsync'd) beside the old one, enrolled in the chain
    under the old key's checkpoint, and only then moved into place, so a failure
    leaves the old key in use.

    :raises AuditError: the store cannot be written. :raises KeyFileError: a key file.
    """
    with AuditLog.open(config) as log:
        assert log.signer is not None
        old = fingerprint(log.signer.public_key)
        staged, key = write_new_key(config.keys_dir)
        try:
            new = CheckpointSigner(key)
            log.rotate_key(new, actor=actor)
            try:
                os.replace(staged, config.keys_dir / KEY_FILE)
            except OSError as exc:
                raise KeyFileError(staged, f"the store enrolled this new key but it could "
                                   f"not be put in place ({exc.strerror}); run the rotation "
                                   "again") from exc
        finally:
            staged.unlink(missing_ok=True)
    return old, fingerprint(new.public_key)
