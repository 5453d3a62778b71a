"""OpenDMARC's library (Debian libopendmarc2) as an independent DMARC implementation.

Driven through ctypes: the library finds the policy record itself (its own policy
discovery and record parser) over DNS, asking only our loopback DNS server (the
``nsaddr_list`` of its initialisation structure carries the port), reads organizational
domains from Debian's Public Suffix List file, and decides alignment and the policy to
enforce from the SPF and DKIM outcomes we store. ``HAS_OPENDMARC`` is false where the
library or the list is missing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
import struct
from pathlib import Path

PSL = Path("/usr/share/publicsuffix/public_suffix_list.dat")
_NAMES = {14: "absent", 15: "pass", 16: "reject", 17: "quarantine", 18: "none"}


def _load() -> ctypes.CDLL | None:
    for name in ("libopendmarc.so.2", ctypes.util.find_library("opendmarc")):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    return None


_LIB = _load()
HAS_OPENDMARC = _LIB is not None and PSL.exists()


def _init(lib: ctypes.CDLL, dns_port: int) -> ctypes.Array[ctypes.c_char]:
    # OPENDMARC_LIB_T: int tld_type; u_char tld_source_file[MAXPATHLEN]; int nscount;
    # struct sockaddr_in nsaddr_list[3]. MAXPATHLEN is 4096 on Linux (2048 if the library
    # was built without sys/param.h): write nscount and the server at both offsets, the
    # unused copy lands in the unused end of the path buffer.
    buf = ctypes.create_string_buffer(8192)
    struct.pack_into("i", buf, 0, 1)  # OPENDMARC_TLD_TYPE_MOZILLA
    path = bytes(PSL) + b"\0"
    buf[4 : 4 + len(path)] = path
    server = struct.pack("=H", socket.AF_INET) + struct.pack("!H", dns_port) \
        + socket.inet_aton("127.0.0.1") + b"\0" * 8
    for maxpathlen in (2048, 4096):
        struct.pack_into("i", buf, 4 + maxpathlen, 1)
        buf[8 + maxpathlen : 8 + maxpathlen + 16] = server
    return buf


def opendmarc_policy(dns_port: int, from_domain: str, *, spf_domain: str | None = None,
                     spf_pass: bool = False, dkim_domain: str | None = None,
                     dkim_pass: bool = False) -> str:
    """OpenDMARC's policy to enforce: absent, pass, reject, quarantine or none (or an error)."""
    lib = _LIB
    assert lib is not None
    lib.opendmarc_policy_connect_init.restype = ctypes.c_void_p
    for name in ("opendmarc_policy_store_from_domain", "opendmarc_policy_store_dkim",
                 "opendmarc_policy_store_spf", "opendmarc_policy_query_dmarc",
                 "opendmarc_get_policy_to_enforce", "opendmarc_policy_connect_shutdown"):
        getattr(lib, name).argtypes = None
    init = _init(lib, dns_port)
    status = lib.opendmarc_policy_library_init(init)
    if status != 0:
        raise RuntimeError(f"opendmarc_policy_library_init: {status}")
    pctx = ctypes.c_void_p(lib.opendmarc_policy_connect_init(b"192.0.2.1", 4))
    try:
        lib.opendmarc_policy_store_from_domain(pctx, from_domain.encode())
        if dkim_domain is not None:
            lib.opendmarc_policy_store_dkim(pctx, dkim_domain.encode(), b"s",
                                            1 if dkim_pass else 2, b"")
        if spf_domain is not None:
            lib.opendmarc_policy_store_spf(pctx, spf_domain.encode(), 1 if spf_pass else 2,
                                           1, b"")
        status = lib.opendmarc_policy_query_dmarc(pctx, from_domain.encode())
        if status not in (0, 9, 10):  # okay, no record, nxdomain
            return {11: "temperror", 4: "bad-value", 5: "no-p"}.get(status, f"error-{status}")
        return _NAMES.get(lib.opendmarc_get_policy_to_enforce(pctx), "unknown")
    finally:
        lib.opendmarc_policy_connect_shutdown(pctx)
        lib.opendmarc_policy_library_shutdown(init)
