"""The cookie signing key: generated on first use under ``$CONGVU_VAR/keys``, mode 0600.

It is read through :func:`mailbase.read_secret`, like every key: a file that group or
others can read or write, that another user owns, or in a directory others can write,
is refused.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mailbase import UnsafeFileError, create_private, private_dir, read_secret
from web.errors import CookieKeyError

KEY_NAME = "web-cookie.key"
_SIZE = 32


def cookie_key(keys_dir: Path) -> bytes:
    """The key that signs session cookies, created (0600) if there is none.

    :raises CookieKeyError: it cannot be created, :func:`mailbase.read_secret` refuses
        it (open to group or others, another owner, a directory others can write), or
        it is too short.
    """
    path = keys_dir / KEY_NAME
    try:
        private_dir(keys_dir, tighten=False)  # an open one is refused below, not fixed
        fd = create_private(path)
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
        data = read_secret(path)
    except UnsafeFileError as exc:
        raise CookieKeyError(str(path), exc.reason) from exc
    if len(data) < _SIZE:
        raise CookieKeyError(str(path), f"holds {len(data)} bytes, needs {_SIZE}; "
                             "remove it to have a new one generated")
    return data
