"""Interop with OpenDKIM both ways, keys served by the DNS server on loopback.

OpenDKIM runs in its test mode (``opendkim -t``), its resolver (libunbound) forwarding to
our loopback server; see support/dkim.py for why not ``opendkim-testmsg``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest

from signer.dkim import DkimSigner, load_signing_key
from signer.dkim_verify import AuthResult, DkimVerifier
from signer.dns import DnsResolver
from signer.keys import Algorithm
from support.dkim import (
    DOMAIN,
    HAS_OPENDKIM,
    MESSAGE,
    KeyFile,
    make_key,
    opendkim_sign,
    opendkim_verify,
)
from support.dns import DnsServer

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(not HAS_OPENDKIM, reason="opendkim is not installed "
                                 "(Debian package opendkim; `make system-deps`)")]

HEAD = MESSAGE.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"

AWKWARD_BODIES = {
    "empty": b"",
    "trailing whitespace": b"line one  \t\r\nline  two\t\r\n",
    "trailing blank lines": b"text\r\n\r\n\r\n\r\n",
    "whitespace-only last lines": b"text\r\n \r\n\t\r\n",
    "no final CRLF": b"last line without break",
    "no final CRLF, trailing WSP": b"last line  ",
    "8-bit": "Kính gửi   Sở Tài chính \r\n".encode() + b"\xff\xfe\r\n",
    "bare LF": b"one\ntwo  \n\n",
}


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyFile]:
    directory = tmp_path_factory.mktemp("keys")
    return {"rsa": make_key(directory, "rsa", Algorithm.RSA_SHA256),
            "ed": make_key(directory, "ed", Algorithm.ED25519_SHA256)}


@pytest.fixture
def dns(keys: dict[str, KeyFile]) -> Iterator[DnsServer]:
    with DnsServer() as server:
        for key in keys.values():
            server.add_txt(f"{key.selector}._domainkey.{DOMAIN}", key.record)
        yield server


@pytest.fixture
def signer(keys: dict[str, KeyFile]) -> DkimSigner:
    return DkimSigner([load_signing_key(DOMAIN, k.selector, k.path) for k in keys.values()])


@pytest.fixture
def verifier(dns: DnsServer) -> DkimVerifier:
    return DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=2))


def _verdicts(auth_results: str) -> dict[str, str]:
    """selector -> dkim result, from OpenDKIM's Authentication-Results value."""
    return {m.group(2): m.group(1) for m in
            re.finditer(r'dkim=(\w+)(?: reason="[^"]*")?(?: \([^)]*\))?[^;]*?header\.s=([\w.-]+)',
                        auth_results)}


def test_our_dual_signature_verifies_with_opendkim(signer: DkimSigner, dns: DnsServer,
                                                   tmp_path: Path) -> None:
    signed = signer.sign(MESSAGE, domain=DOMAIN) + MESSAGE
    assert _verdicts(opendkim_verify(signed, tmp_path, dns.port)) == {"rsa": "pass", "ed": "pass"}
    assert {q.name for q in dns.queries} == {f"rsa._domainkey.{DOMAIN}", f"ed._domainkey.{DOMAIN}"}


@pytest.mark.parametrize("body", AWKWARD_BODIES.values(), ids=AWKWARD_BODIES.keys())
def test_our_signature_on_awkward_bodies_verifies_with_opendkim(
        signer: DkimSigner, dns: DnsServer, tmp_path: Path, body: bytes) -> None:
    message = HEAD + body
    # the file OpenDKIM reads is what the SMTP client sends: DATA ends with a line break
    wire = message if message.endswith(b"\n") else message + b"\r\n"
    verdicts = _verdicts(opendkim_verify(signer.sign(message, domain=DOMAIN) + wire,
                                         tmp_path, dns.port))
    assert verdicts == {"rsa": "pass", "ed": "pass"}


def test_tampering_fails_with_opendkim(signer: DkimSigner, dns: DnsServer, tmp_path: Path) -> None:
    signed = signer.sign(MESSAGE, domain=DOMAIN) + MESSAGE
    assert _verdicts(opendkim_verify(signed.replace(b"theo.", b"theo!"), tmp_path, dns.port)) \
        == {"rsa": "fail", "ed": "fail"}
    second_from = b"From: boss@evil.example\r\n" + signed
    assert _verdicts(opendkim_verify(second_from, tmp_path, dns.port)) == \
        {"rsa": "fail", "ed": "fail"}


@pytest.mark.parametrize("canonicalization", ["relaxed/relaxed", "simple/simple",
                                              "relaxed/simple"])
@pytest.mark.parametrize("name", ["rsa", "ed"])
def test_opendkim_signatures_verify_with_ours(keys: dict[str, KeyFile], verifier: DkimVerifier,
                                              tmp_path: Path, name: str,
                                              canonicalization: str) -> None:
    header = opendkim_sign(MESSAGE, tmp_path, domain=DOMAIN, key=keys[name],
                           canonicalization=canonicalization)
    assert f"c={canonicalization}".encode() in header
    [result] = verifier.verify(header + MESSAGE)
    if name == "ed" and canonicalization.startswith("simple/"):
        # OpenDKIM 2.11.0~beta2 hashes ed25519 signatures with simple header
        # canonicalization in a way neither dkimpy nor we reproduce: both say fail.
        record = keys[name].record.encode()
        assert not dkim.verify(header + MESSAGE, dnsfunc=lambda name, timeout=5: record)
        assert (result.result, result.reason) == (AuthResult.FAIL, "signature did not verify")
        return
    assert (result.result, result.selector) == (AuthResult.PASS, name)


@pytest.mark.parametrize("canonicalization", ["relaxed/relaxed", "simple/simple"])
@pytest.mark.parametrize("body", AWKWARD_BODIES.values(), ids=AWKWARD_BODIES.keys())
def test_opendkim_signatures_on_awkward_bodies_verify_with_ours(
        keys: dict[str, KeyFile], verifier: DkimVerifier, tmp_path: Path, body: bytes,
        canonicalization: str) -> None:
    message = HEAD + body
    wire = message if message.endswith(b"\n") else message + b"\r\n"
    header = opendkim_sign(wire, tmp_path, domain=DOMAIN, key=keys["rsa"],
                           canonicalization=canonicalization)
    [result] = verifier.verify(header + wire)
    assert (result.result, result.reason) == (AuthResult.PASS, "signature verified")


@pytest.mark.skipif(shutil.which("opendkim-testmsg") is None, reason="opendkim-tools missing")
def test_opendkim_testmsg_signs_rsa_sha1_which_we_do_not_accept(
        keys: dict[str, KeyFile], verifier: DkimVerifier) -> None:
    done = subprocess.run(["opendkim-testmsg", "-C", "-d", DOMAIN, "-s", "rsa",
                           "-k", str(keys["rsa"].path)], input=MESSAGE,
                          capture_output=True, timeout=60, check=True)
    [result] = verifier.verify(done.stdout)
    assert (result.result, result.algorithm) == (AuthResult.NEUTRAL, "rsa-sha1")
    assert "RFC 8301" in result.reason
