"""DKIM test helpers: key files, sample messages, and OpenDKIM as an independent peer.

OpenDKIM is driven through the ``opendkim`` binary's test mode (``-t FILE``), which runs
the whole filter on one message without a MTA: with ``Mode v`` it verifies and prints
the Authentication-Results it would add, reading keys over DNS through libunbound, whose
configuration (``ResolverConfiguration``) forwards every query to our loopback DNS server
(``forward-addr: 127.0.0.1@PORT``); with ``Mode s`` it signs and prints the
DKIM-Signature. ``opendkim-testmsg`` cannot be pointed at a resolver other than the
system's, and signs only with rsa-sha1, so it is not used for the DNS-reading checks.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from signer.keys import Algorithm, PrivateKey, generate_private_key, key_record, write_private_key
from support.keypool import POOL

DOMAIN = "sotc.example.gov.vn"

MESSAGE = (
    b"From: =?utf-8?b?U+G7nyBUw6BpIGNow61uaA==?= <vanthu@sotc.example.gov.vn>\r\n"
    b"To: ubnd@example.gov.vn\r\n"
    b"Cc: luu@example.gov.vn\r\n"
    b"Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?= 123/STC\r\n"
    b"Date: Thu, 26 Nov 2026 09:00:00 +0700\r\n"
    b"Message-ID: <123.stc@sotc.example.gov.vn>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"K\xc3\xadnh g\xe1\xbb\xadi   UBND t\xe1\xbb\x89nh,\t \r\n"
    b"\r\n"
    b"V\xc4\x83n b\xe1\xba\xa3n k\xc3\xa8m theo.\r\n"
    b"\r\n\r\n"
)
"""An official message: RFC 2047 words, 8-bit body, odd whitespace, trailing blank lines."""

HAS_OPENDKIM = shutil.which("opendkim") is not None


@dataclass(frozen=True)
class KeyFile:
    """A private key written 0600 under a test directory, and its DNS record."""

    selector: str
    algorithm: Algorithm
    path: Path
    key: PrivateKey

    @property
    def record(self) -> str:
        """The TXT value publishing the public key."""
        return key_record(self.key)


def make_key(directory: Path, selector: str, algorithm: Algorithm, *, bits: int = 2048) -> KeyFile:
    """A key written as ``DIR/SELECTOR.pem`` (mode 0600); RSA-2048 from the session's
    pool (support/keypool.py), other keys generated."""
    key: PrivateKey = (POOL.rsa2048() if algorithm is Algorithm.RSA_SHA256 and bits == 2048
                       else generate_private_key(algorithm, bits=bits))
    path = directory / f"{selector}.pem"
    write_private_key(key, path)
    return KeyFile(selector, algorithm, path, key)


def opendkim_verify(message: bytes, work: Path, dns_port: int) -> str:
    """OpenDKIM's Authentication-Results for ``message``, keys read from 127.0.0.1:PORT."""
    (work / "unbound.conf").write_text(
        "server:\n    do-not-query-localhost: no\n    module-config: \"iterator\"\n"
        f"forward-zone:\n    name: \".\"\n    forward-addr: 127.0.0.1@{dns_port}\n")
    (work / "verify.conf").write_text(
        f"Mode v\nSyslog no\nResolverConfiguration {work / 'unbound.conf'}\n"
        "AuthservID opendkim.test\n")
    (work / "in.eml").write_bytes(message)
    done = subprocess.run(
        ["opendkim", "-x", str(work / "verify.conf"), "-vvv", "-t", str(work / "in.eml")],
        capture_output=True, timeout=60, check=False)
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    match = re.search(r"hname='Authentication-Results' hvalue='([^']*)'", text)
    if done.returncode != 0 or match is None:
        raise AssertionError(f"opendkim -t failed ({done.returncode}):\n{text}")
    return match.group(1)


def opendkim_sign(message: bytes, work: Path, *, domain: str, key: KeyFile,
                  canonicalization: str = "relaxed/relaxed") -> bytes:
    """The DKIM-Signature header OpenDKIM makes for ``message`` (CRLF line ends)."""
    conf = work / f"sign-{key.selector}.conf"
    conf.write_text(
        f"Mode s\nSyslog no\nDomain {domain}\nSelector {key.selector}\nKeyFile {key.path}\n"
        f"SignatureAlgorithm {key.algorithm.value}\nCanonicalization {canonicalization}\n"
        # the key is 0600, but pytest's tmp_path is under world-writable /tmp
        "RequireSafeKeys no\n")
    (work / "in.eml").write_bytes(message)
    done = subprocess.run(["opendkim", "-x", str(conf), "-t", str(work / "in.eml")],
                          capture_output=True, timeout=60, check=False)
    # OpenDKIM folds the value with CRLF but ends the printed line with LF
    out = done.stdout.decode("ascii", "replace").replace("\r\n", "\n")
    start = out.find("DKIM-Signature:")
    if done.returncode != 0 or start < 0:
        raise AssertionError(f"opendkim signing failed ({done.returncode}):\n"
                             f"{out}{done.stderr.decode('utf-8', 'replace')}")
    lines = out[start:].strip("\n").split("\n")
    return ("\r\n".join(lines) + "\r\n").encode("ascii")
