"""ARC sealing for tests: what a mailing list or forwarder adds (dkimpy's arc_sign).

dkimpy's sealing needs the ``authres`` package (a test dependency): the forwarder's own
Authentication-Results header, with its authserv-id, is what it records in the new
ARC-Authentication-Results and where it reads the chain status (``arc=``) from.
"""

from __future__ import annotations

import dkim

from support.dkim import KeyFile


def seal(message: bytes, key: KeyFile, domain: str, results: str) -> bytes:
    """``message`` as forwarded by ``domain``: its A-R (``results``) and a new ARC set on top.

    ``results`` is the A-R value after the authserv-id, e.g. ``"dkim=pass header.d=x; arc=pass"``.
    """
    with_ar = f"Authentication-Results: {domain}; {results}\r\n".encode() + message
    headers = dkim.arc_sign(with_ar, b"arc", domain.encode(), key.path.read_bytes(),
                            domain.encode(),
                            include_headers=[b"from", b"to", b"subject", b"date",
                                             b"message-id"])
    if not headers:
        raise RuntimeError("dkimpy made no ARC set")
    return b"".join(headers) + with_ar
