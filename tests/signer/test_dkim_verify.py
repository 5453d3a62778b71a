"""DKIM verification against a DNS server on loopback: one RFC 8601 result per signature."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from signer.config import DkimConfig
from signer.dkim import DkimSigner, load_signing_key
from signer.dkim_verify import AuthResult, DkimResult, DkimVerifier
from signer.dns import DnsResolver
from signer.keys import Algorithm
from support.dkim import DOMAIN, MESSAGE, KeyFile, make_key
from support.dns import DnsServer

DATA = Path(__file__).resolve().parent.parent / "data" / "signer"


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
def verifier(dns: DnsServer) -> DkimVerifier:
    return DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=0.5))


def _sign(keys: dict[str, KeyFile], *names: str, message: bytes = MESSAGE) -> bytes:
    signer = DkimSigner([load_signing_key(DOMAIN, keys[n].selector, keys[n].path) for n in names])
    return signer.sign(message, domain=DOMAIN) + message


def _pairs(results: list[DkimResult]) -> list[tuple[str, str]]:
    return [(r.result.value, r.reason) for r in results]


def test_rfc8463_example_verifies() -> None:
    with DnsServer() as server:
        for line in (DATA / "rfc8463.dns").read_text().splitlines():
            name, record = line.split(" ", 1)
            server.add_txt(name, record)
        verifier = DkimVerifier(DnsResolver("127.0.0.1", port=server.port, timeout=2))
        results = verifier.verify((DATA / "rfc8463.eml").read_bytes())
    assert [(r.result, r.algorithm, r.selector, r.domain) for r in results] == [
        (AuthResult.PASS, "ed25519-sha256", "brisbane", "football.example.com"),
        (AuthResult.PASS, "rsa-sha256", "test", "football.example.com"),
    ]
    assert results[0].identity == "@football.example.com"
    assert results[0].signature_prefix == "/gCrinpc"


def test_rfc8463_example_tampered_fails() -> None:
    raw = (DATA / "rfc8463.eml").read_bytes().replace(b"hungry", b"thirsty")
    records = dict(line.split(" ", 1) for line in (DATA / "rfc8463.dns").read_text().splitlines())
    verifier = DkimVerifier(lambda name: [records[name].encode()])
    assert _pairs(verifier.verify(raw)) == [("fail", "body hash did not verify")] * 2


def test_unsigned_message_is_none(verifier: DkimVerifier) -> None:
    assert _pairs(verifier.verify(MESSAGE)) == [("none", "message not signed")]


def test_dual_signature_passes(verifier: DkimVerifier, keys: dict[str, KeyFile]) -> None:
    results = verifier.verify(_sign(keys, "rsa", "ed"))
    assert [(r.result, r.selector, r.algorithm) for r in results] == [
        (AuthResult.PASS, "rsa", "rsa-sha256"), (AuthResult.PASS, "ed", "ed25519-sha256")]
    assert results[0].properties()[:3] == [("header.d", DOMAIN), ("header.s", "rsa"),
                                           ("header.a", "rsa-sha256")]


def test_missing_key_record_is_permerror(verifier: DkimVerifier, dns: DnsServer,
                                         keys: dict[str, KeyFile]) -> None:
    dns.remove(f"rsa._domainkey.{DOMAIN}")
    assert _pairs(verifier.verify(_sign(keys, "rsa"))) == \
        [("permerror", f"no key record at rsa._domainkey.{DOMAIN}")]


def test_revoked_key_is_permerror(verifier: DkimVerifier, dns: DnsServer,
                                  keys: dict[str, KeyFile]) -> None:
    dns.remove(f"ed._domainkey.{DOMAIN}")
    dns.add_txt(f"ed._domainkey.{DOMAIN}", "v=DKIM1; k=ed25519; p=")
    assert _pairs(verifier.verify(_sign(keys, "ed"))) == \
        [("permerror", f"key at ed._domainkey.{DOMAIN} is revoked (empty p=)")]


def test_dns_timeout_is_temperror_not_a_hang(verifier: DkimVerifier, dns: DnsServer,
                                             keys: dict[str, KeyFile]) -> None:
    dns.set_timeout(f"rsa._domainkey.{DOMAIN}")
    results = verifier.verify(_sign(keys, "rsa", "ed"))
    assert _pairs(results) == [("temperror", "key lookup failed: timed out"),
                               ("pass", "signature verified")]


def test_servfail_is_temperror(verifier: DkimVerifier, dns: DnsServer,
                               keys: dict[str, KeyFile]) -> None:
    dns.set_servfail(f"ed._domainkey.{DOMAIN}")
    [result] = verifier.verify(_sign(keys, "ed"))
    assert result.result is AuthResult.TEMPERROR and "SERVFAIL" in result.reason


def test_unreachable_resolver_is_temperror(keys: dict[str, KeyFile]) -> None:
    with DnsServer() as server:
        port = server.port
    verifier = DkimVerifier(DnsResolver("127.0.0.1", port=port, timeout=0.3))
    [result] = verifier.verify(_sign(keys, "ed"))
    assert result.result is AuthResult.TEMPERROR


def _resign_with(signed: bytes, old: bytes, new: bytes) -> bytes:
    assert old in signed
    return signed.replace(old, new, 1)


@pytest.mark.parametrize(("old", "new", "reason"), [
    (b"v=1;", b"v=2;", "unsupported version v='2'"),
    (b"a=ed25519-sha256", b"a=rsa-sha1", "rsa-sha1 signatures are not accepted (RFC 8301)"),
    (b"a=ed25519-sha256", b"a=ed448-sha512", "unsupported algorithm a='ed448-sha512'"),
    (b"c=relaxed/relaxed", b"c=fancy/relaxed", "unsupported canonicalization c='fancy/relaxed'"),
    (b"h=from:from:", b"h=", "h= does not include From"),
    (b"v=1;", b"v=1; d=x.vn;", "duplicate tag 'd'"),
    (b" s=ed;", b" s=ed; broken;", "malformed tag list near ' broken'"),
    (b"v=1;", b"v=1; i=user@elsewhere.vn;", "i= is not in the signing domain d="),
    (b" bh=", b" bh=!!", "bh= is not base64"),
    (b"t=", b"x=1; t=", "x= is earlier than t="),
])
def test_malformed_signature_is_neutral(verifier: DkimVerifier, keys: dict[str, KeyFile],
                                        old: bytes, new: bytes, reason: str) -> None:
    [result] = verifier.verify(_resign_with(_sign(keys, "ed"), old, new))
    assert result.result is AuthResult.NEUTRAL
    assert result.reason.startswith(reason)


def test_key_record_tags_that_fit_their_grammar_are_read(
        dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    p = keys["ed"].record.split("p=")[1]
    record = f"v=DKIM1; k=ED25519; h=sha256 :\tfuture-hash; s= * ; t=y:x-new; n=a=20note; p= {p}"
    verifier = DkimVerifier(lambda name: [record.encode()])
    assert _pairs(verifier.verify(_sign(keys, "ed"))) == [("pass", "signature verified")]


# RFC 6376 3.5 and 6.1.1: every tag is read against its grammar; a value that does not
# fit is a permanent failure (neutral, RFC 8601 2.7.1), found before any key lookup
@pytest.mark.parametrize(("old", "new", "reason"), [
    (f" d={DOMAIN};".encode(), f" d={DOMAIN}.;".encode(), "d= is not a valid domain name"),
    (f" d={DOMAIN};".encode(), b" d=vn;", "d= is not a valid domain name: 'vn'"),
    (f" d={DOMAIN};".encode(), b" d=-sotc.vn;", "d= is not a valid domain name"),
    (f" d={DOMAIN};".encode(), b" d=so_tc.vn;", "d= is not a valid domain name"),
    (f" d={DOMAIN};".encode(), b" d=sotc..vn;", "d= is not a valid domain name"),
    (f" d={DOMAIN};".encode(), b" d=" + b"x" * 64 + b".vn;", "d= is not a valid domain name"),
    (f" d={DOMAIN};".encode(), f" d={DOMAIN}\"x.vn;".encode(), "d= is not a valid domain name"),
    (b" s=ed;", b" s=ed(x;", "s= is not a valid selector"),
    (b" s=ed;", b" s=e d;", "s= is not a valid selector"),
    (b"v=1;", b"v=1; i=nobody;", "i= has no @"),
    (b"v=1;", f"v=1; i=@{DOMAIN}(.x.vn;".encode(), "i= does not end in a valid domain name"),
    (b"v=1;", f"v=1; i=us..er@{DOMAIN};".encode(), "i= has a malformed local part"),
    (b"v=1;", f"v=1; i=a=2@{DOMAIN};".encode(), "i= has a malformed local part"),
    (b"v=1;", f"v=1; i=@x{DOMAIN};".encode(), "i= is not in the signing domain d="),
    (b"a=ed25519-sha256", b"a=ed25519_sha256", "a= is malformed"),
    (b"a=ed25519-sha256", b"a=ed25519-sha-256", "a= is malformed"),
    (b"c=relaxed/relaxed", b"c=relaxed/", "c= is malformed"),
    (b"c=relaxed/relaxed", b"c=relaxed/relaxed/simple", "c= is malformed"),
    (b"h=from:", b"h=from::", "h= is not a list of header field names"),
    (b"h=from:", b"h=fr om:", "h= is not a list of header field names"),
    (b"v=1;", b"v=1; l=-1;", "l= is not a number of at most 76 digits"),
    (b"v=1;", b"v=1; l=" + b"1" * 77 + b";", "l= is not a number of at most 76 digits"),
    (b"v=1;", b"v=1; x=soon;", "x= is not a number"),
    (b"v=1;", b"v=1; x=1234567890123;", "x= is not a number of at most 12 digits"),
    (b"t=", b"t=1e9; x=", "t= is not a number"),
    (b"v=1;", b"v=1; q=http/well-known;", "unsupported query method q='http/well-known'"),
    (b"v=1;", b"v=1; q=dns/txt:;", "q= is malformed"),
    (b"v=1;", b"v=1; z=From;", "z= is malformed near 'From'"),
    (b"v=1;", b"v=1; 1a=b;", "malformed tag list near ' 1a=b'"),
    (b"v=1;", b"v=1; x_new=a\x01b;", "malformed value of x_new="),
    (b"v=1;", b"v=1; ;", "malformed tag list near ' '"),
    (b"v=1;", b"v=1; x-new=1;", "malformed tag list near ' x-new=1'"),
    (b" b=", b" b=*", "b= is not base64"),
    (b" bh=", b" bh==", "bh= is not base64"),
])
def test_tag_that_does_not_fit_its_grammar_is_neutral(
        verifier: DkimVerifier, dns: DnsServer, keys: dict[str, KeyFile],
        old: bytes, new: bytes, reason: str) -> None:
    [result] = verifier.verify(_resign_with(_sign(keys, "ed"), old, new))
    assert result.result is AuthResult.NEUTRAL
    assert result.reason.startswith(reason), result.reason
    assert dns.queries == []


def test_tags_beside_the_grammar_pass(verifier: DkimVerifier, keys: dict[str, KeyFile]) -> None:
    """Unknown tags, q=dns/txt among other methods, z= and an i= with a quoted,
    encoded local part fit the grammar (signed by dkimpy, which carries them)."""
    identity = b'"Van=20thu"@' + DOMAIN.encode()
    header = dkim.sign(MESSAGE, b"rsa", DOMAIN.encode(), _pem(keys["rsa"]), identity=identity)
    assert b"q=dns/txt;" in header
    header = header.replace(b"q=dns/txt;", b"q=dns/txt : x-other/a=3Ab;", 1).replace(
        b"v=1;", b"v=1; x_later=some value; z=From:a=20b|\r\n To:c;", 1)
    [result] = verifier.verify(header + MESSAGE)
    assert result.result is AuthResult.FAIL  # the tags are signed: well-formed, then checked
    assert result.identity == identity.decode()
    header = dkim.sign(MESSAGE, b"rsa", DOMAIN.encode(), _pem(keys["rsa"]), identity=identity)
    assert _pairs(verifier.verify(header + MESSAGE)) == [("pass", "signature verified")]


def test_domain_hiding_another_domain_does_not_pass(
        dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    """The attacker owns attacker.vn and publishes a key at a name below it whose labels
    read, to a lenient reader, as the province's domain followed by a comment."""
    forged = f"{DOMAIN}(.attacker.vn"
    dns.add_txt(f"rsa._domainkey.{forged}", keys["rsa"].record)
    header = dkim.sign(MESSAGE, b"rsa", forged.encode(), _pem(keys["rsa"]))
    verifier = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=0.5))
    [result] = verifier.verify(header + MESSAGE)
    assert result.result is AuthResult.NEUTRAL
    assert result.reason == f"d= is not a valid domain name: '{forged}'"
    assert result.domain is None and result.identity is None
    assert ("header.d", DOMAIN) not in result.properties()
    assert dns.queries == []


def test_missing_required_tags_is_neutral(verifier: DkimVerifier) -> None:
    [result] = verifier.verify(b"DKIM-Signature: v=1; a=rsa-sha256; d=x.vn\r\n" + MESSAGE)
    assert _pairs([result]) == [("neutral", "signature lacks required tags: b, bh, h, s")]
    assert result.domain == "x.vn"


@pytest.mark.parametrize(("record", "reason"), [
    ("v=DKIM1; k=rsa; p={rsa}", "a=ed25519-sha256 but the key is rsa"),
    ("v=DKIM2; k=ed25519; p={ed}", "is not DKIM1"),
    ("v=DKIM1; k=dsa; p={ed}", "unknown type k='dsa'"),
    ("v=DKIM1; k=ed25519; p=%%%", "p= is not base64"),
    ("v=DKIM1; k=ed25519; p=AAAA", "malformed value"),
    ("v=DKIM1; k=ed25519; s=other; p={ed}", "not for email"),
    ("v=DKIM1; k=ed25519; h=sha1; p={ed}", "does not allow sha256"),
    ("v=DKIM1; k=ed25519; junk", "malformed tag list"),
    ("k=ed25519; v=DKIM1; p={ed}", "v=DKIM1 must be the first tag"),
    ("v=DKIM1; k=ed25519", "has no p= tag"),
    ("v=DKIM1; k=ed_25519; p={ed}", "malformed k='ed_25519'"),
    ("v=DKIM1; k=ed25519; h=sha256:; p={ed}", "malformed h='sha256:'"),
    ("v=DKIM1; k=ed25519; s=email,other; p={ed}", "malformed s='email,other'"),
    ("v=DKIM1; k=ed25519; t=y::s; p={ed}", "malformed t='y::s'"),
    ("v=DKIM1; k=ed25519; p={ed}; p={ed}", "duplicate tag 'p'"),
    ("v=DKIM1; k=ed25519;; p={ed}", "malformed tag list"),
])
def test_unusable_key_record_is_permerror(verifier: DkimVerifier, dns: DnsServer,
                                          keys: dict[str, KeyFile], record: str,
                                          reason: str) -> None:
    p = {k: v.record.split("p=")[1] for k, v in keys.items()}
    dns.remove(f"ed._domainkey.{DOMAIN}")
    dns.add_txt(f"ed._domainkey.{DOMAIN}", record.format(**p))
    [result] = verifier.verify(_sign(keys, "ed"))
    assert result.result is AuthResult.PERMERROR
    assert reason in result.reason


def test_key_record_with_strict_flag_refuses_subdomain_identity(
        dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    signed = _sign(keys, "ed")
    record = f"v=DKIM1; k=ed25519; t=s; p={keys['ed'].record.split('p=')[1]}"
    verifier = DkimVerifier(lambda name: [record.encode()])
    # i= in a subdomain of d= is allowed without t=s, refused with it; either way the
    # signature itself (which covers i=) must then still be checked
    tampered = signed.replace(b"v=1;", b"v=1; i=@sub." + DOMAIN.encode() + b";", 1)
    assert verifier.verify(tampered)[0].reason == "the key record forbids subdomains in i= (t=s)"


def test_signature_cap(verifier: DkimVerifier, dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    signed = _sign(keys, "ed")
    header = signed[: signed.index(b"From:")]
    flood = header * 30 + MESSAGE
    results = verifier.verify(flood)
    assert len(results) == 6
    assert all(r.result is AuthResult.PASS for r in results[:5])
    assert _pairs(results[5:]) == [("neutral", "25 more signatures not evaluated (limit 5)")]
    assert len(dns.queries) == 1  # one key lookup per selector per message


def test_from_config(dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    config = DkimConfig(resolver_nameserver="127.0.0.1", resolver_port=dns.port,
                        resolver_timeout=1, max_signatures=1)
    results = DkimVerifier.from_config(config).verify(_sign(keys, "rsa", "ed"))
    assert [r.result for r in results] == [AuthResult.PASS, AuthResult.NEUTRAL]


def test_malformed_header_section_is_permerror(verifier: DkimVerifier) -> None:
    assert _pairs(verifier.verify(b"DKIM-Signature: v=1\r\nno colon\r\n\r\nbody")) == \
        [("permerror", "malformed header section: line 2 is not a header field")]


# -- signatures made by dkimpy (another implementation): canonicalizations, l=, PKCS#1

def _pem(key: KeyFile) -> bytes:
    assert isinstance(key.key, rsa.RSAPrivateKey)
    return key.key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())


@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"relaxed", b"simple"),
                                   (b"simple", b"relaxed"), (b"relaxed", b"relaxed")])
def test_dkimpy_rsa_signatures_verify(verifier: DkimVerifier, keys: dict[str, KeyFile],
                                      canon: tuple[bytes, bytes]) -> None:
    header = dkim.sign(MESSAGE, b"rsa", DOMAIN.encode(), _pem(keys["rsa"]), canonicalize=canon)
    assert _pairs(verifier.verify(header + MESSAGE)) == [("pass", "signature verified")]


def test_dkimpy_ed25519_signature_verifies(verifier: DkimVerifier,
                                           keys: dict[str, KeyFile]) -> None:
    seed = keys["ed"].key.private_bytes(serialization.Encoding.Raw,
                                        serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
    header = dkim.sign(MESSAGE, b"ed", DOMAIN.encode(), base64.b64encode(seed),
                       signature_algorithm=b"ed25519-sha256",
                       canonicalize=(b"relaxed", b"relaxed"))
    assert _pairs(verifier.verify(header + MESSAGE)) == [("pass", "signature verified")]


def test_body_length_tag(verifier: DkimVerifier, keys: dict[str, KeyFile]) -> None:
    header = dkim.sign(MESSAGE, b"rsa", DOMAIN.encode(), _pem(keys["rsa"]), length=True)
    assert _pairs(verifier.verify(header + MESSAGE + b"appended footer\r\n")) == \
        [("pass", "signature verified")]
    truncated = header + MESSAGE[: MESSAGE.index(b"V\xc4\x83n")]
    assert _pairs(verifier.verify(truncated)) == [("fail", "l= is longer than the body")]


def test_pkcs1_rsa_key_record(dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    public = keys["rsa"].key.public_key()
    pkcs1 = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    record = f"v=DKIM1; p={base64.b64encode(pkcs1).decode()}".encode()
    verifier = DkimVerifier(lambda name: [record])
    assert _pairs(verifier.verify(_sign(keys, "rsa"))) == [("pass", "signature verified")]


def test_dns_budget_bounds_a_message_with_many_slow_selectors(
        dns: DnsServer, keys: dict[str, KeyFile]) -> None:
    signed = _sign(keys, "ed")
    header = signed[: signed.index(b"From:")]
    flood = b"".join(header.replace(b" s=ed;", f" s=slow{i};".encode()) for i in range(4))
    for i in range(4):
        dns.set_timeout(f"slow{i}._domainkey.{DOMAIN}")
    verifier = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=0.3),
                            dns_budget=0.5)
    results = verifier.verify(flood + MESSAGE)
    assert [r.result for r in results] == [AuthResult.TEMPERROR] * 4
    assert results[0].reason == "key lookup failed: timed out"
    assert results[3].reason == "key not looked up: the 0.5 s DNS budget of this message is spent"
    assert f"slow3._domainkey.{DOMAIN}" not in {q.name for q in dns.queries}  # never asked
    assert len({q.name for q in dns.queries}) == 2
