"""The address of a shared store: a ``postgresql://`` URL that never carries a password.

A URL is copied into logs, ``config show``, process lists and tickets; a password in it
would travel with it. The password lives in a 0600 file (``password_file``) or in
libpq's own passfile (``~/.pgpass`` or ``PGPASSFILE``), never in congvu.toml.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

SCHEMES = ("postgresql", "postgres")
_SECRET_PARAMETERS = ("password", "sslpassword")
_HOW = ("put it in [store] password_file (a file of mode 0600 holding only the password) "
        "or in libpq's passfile (~/.pgpass or PGPASSFILE), and write the URL as "
        "postgresql://USER@HOST:PORT/DATABASE")


def check_store_url(url: str) -> str:
    """``url`` when it names a PostgreSQL database without a password.

    :raises ValueError: another scheme, no database, a password in the URL (saying
        where it belongs instead), or a URL that cannot be read.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"not a valid store URL: {exc}") from exc
    if parts.scheme not in SCHEMES:
        raise ValueError(
            "a store URL starts with postgresql:// (SQLite stores are set with path)")
    if parts.password is not None:
        raise ValueError(f"the store URL must not contain a password: {_HOW}")
    if any(name.lower() in _SECRET_PARAMETERS for name, _ in parse_qsl(parts.query)):
        raise ValueError(f"the store URL must not contain a password parameter: {_HOW}")
    if not parts.path.strip("/"):
        raise ValueError("the store URL names no database: postgresql://USER@HOST:PORT/DATABASE")
    if port == 0:
        raise ValueError("the store URL's port cannot be 0")
    return url
