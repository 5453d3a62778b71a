"""The cookie signing key: generated on first use under ``$CONGVU_VAR/keys``, mode 0600.

A key file that group or others can read or write is refused.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from web.errors import CookieKeyError

KEY_NAME = "web-cookie.key"
_SIZE = 32


def cookie_key(keys_dir: Path) -> bytes:
    """The key that signs session cookies, created (0600) if there is none.

    :raises CookieKeyError: the file is readable or writable by group/others, or too short.
    """
    path = keys_dir / KEY_NAME
    try:
        keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise CookieKeyError(str(path), f"cannot create it: {exc.strerror}") from exc
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(_SIZE))
            handle.flush()
            os.fsync(handle.fileno())
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise CookieKeyError(str(path), f"cannot read it: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise CookieKeyError(str(path), f"mode {stat.S_IMODE(mode):04o} lets others read "
                             "or write it; run chmod 600 on it")
    if len(data) < _SIZE:
        raise CookieKeyError(str(path), f"holds {len(data)} bytes, needs {_SIZE}; "
                             "remove it to have a new one generated")
    return data
