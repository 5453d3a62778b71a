"""Signing and verification through the service, checked by independent verifiers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from signer import DkimVerifier, DnsResolver, SmimeVerifier
from signer.keys import Algorithm
from support.dkim import HAS_OPENDKIM, make_key, opendkim_verify
from support.dns import DnsServer
from support.smime import ALICE, BOB, DOMAIN, cast
from support.smime import message as smime_message

SENDER_DOMAIN = f"so-tc.{DOMAIN}"


@pytest.fixture
def dns():
    server = DnsServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dkim_key(tmp_path: Path, dns: DnsServer):
    (tmp_path / "dkim").mkdir()
    key = make_key(tmp_path / "dkim", "s2026", Algorithm.RSA_SHA256)
    dns.add_txt(f"s2026._domainkey.{SENDER_DOMAIN}", key.record)
    return key


def signer_config(dns: DnsServer, dkim_key, *, identities=(), authserv="mx.test") -> dict:
    return {"dkim": {"keys": [{"domain": SENDER_DOMAIN, "selector": "s2026",
                               "key_file": str(dkim_key.path), "algorithm": "rsa-sha256"}],
                     "authserv_id": authserv, "resolver_nameserver": "127.0.0.1",
                     "resolver_port": dns.port, "resolver_timeout": 2},
            "smime": {"identities": list(identities)}}


def test_outbound_is_smime_then_dkim_signed_and_both_verify(
    filter_server, next_hop, dns, dkim_key, tmp_path: Path
) -> None:
    people = cast()
    cert, key = people.alice.write(tmp_path / "smime", "alice")
    running = filter_server(signer=signer_config(
        dns, dkim_key, identities=[{"address": ALICE, "cert": str(cert), "key": str(key)}]))
    running.client().sendmail(ALICE, [BOB], smime_message())
    delivered = next_hop.get().content
    assert delivered.startswith(b"DKIM-Signature: ")
    assert b"multipart/signed" in delivered
    # Our verifier, over our loopback DNS.
    dkim = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=2)).verify(delivered)
    assert [r.result.value for r in dkim] == ["pass"]
    assert SmimeVerifier(people.trust()).verify(delivered).status.value == "pass"
    # OpenSSL, independently.
    roots = people.pki.write(tmp_path / "pki")
    if shutil.which("openssl"):
        (tmp_path / "delivered.eml").write_bytes(delivered)
        done = subprocess.run(["openssl", "cms", "-verify", "-CAfile", str(roots.root),
                               "-purpose", "smimesign", "-in", str(tmp_path / "delivered.eml"),
                               "-out", str(tmp_path / "content.out")], capture_output=True)
        assert done.returncode == 0, done.stderr
    if HAS_OPENDKIM:
        assert "dkim=pass" in opendkim_verify(delivered, tmp_path, dns.port)


def test_outbound_with_two_from_headers_is_refused(filter_server, next_hop, dns, dkim_key) -> None:
    running = filter_server(signer=signer_config(dns, dkim_key))
    raw = smime_message().replace(b"From: ", b"From: evil@attacker.example\r\nFrom: ", 1)
    client = running.client()
    client.mail(ALICE)
    client.rcpt(BOB)
    code, text = client.data(raw)
    # refused before any signing stage, by the one From reading
    assert code == 550
    assert b"the From header is ambiguous (the message has 2 From headers)" in text
    next_hop.assert_empty()


def test_inbound_gets_honest_authentication_results(
    filter_server, next_hop, dns, dkim_key, tmp_path
) -> None:
    signer_only = filter_server(signer=signer_config(dns, dkim_key))
    signer_only.client().sendmail(ALICE, [BOB], smime_message())
    signed = next_hop.get().content
    forged = b"Authentication-Results: mx.test; dkim=pass header.d=so-tc.province.gov.vn\r\n"
    tampered = forged + signed.replace(b"Xin gui cong van.", b"Xin gui tien ngay.")
    inbound = filter_server(
        signer=signer_config(dns, dkim_key),
        listeners=[{"name": "in", "role": "inbound", "port": 0}],
    )
    inbound.client().sendmail("someone@example.org", [BOB], tampered)
    delivered = next_hop.get().content
    ours = re.match(rb"Authentication-Results: [^\r]*\r\n(?:[ \t][^\r]*\r\n)*", delivered)
    assert ours is not None
    assert ours.group(0).startswith(b"Authentication-Results: mx.test;")
    assert b"dkim=fail" in ours.group(0)
    assert forged not in delivered  # the forged header claiming our authserv-id is gone
    assert delivered[ours.end():] == tampered[len(forged):]


def test_a_sender_without_an_smime_identity_is_held_when_so_configured(
        filter_server, next_hop, dns, dkim_key, tmp_path: Path) -> None:
    # S/MIME holds without a policy decision; the hold must still work (it used to
    # reach the quarantine store with no decision at all: a 451 Postfix retries forever)
    people = cast()
    cert, key = people.alice.write(tmp_path / "smime", "alice")
    config = signer_config(dns, dkim_key, identities=[
        {"address": f"someone-else@{SENDER_DOMAIN}", "cert": str(cert), "key": str(key)}])
    config["smime"]["on_missing_identity"] = "quarantine"
    running = filter_server(signer=config)
    client = running.client()
    client.mail(ALICE)
    client.rcpt(BOB)
    code, text = client.data(smime_message())
    assert code == 250 and b"held in quarantine" in text
    next_hop.assert_empty()
    [entry] = running.server.runtime.quarantine.list()
    assert entry.action == "quarantine"
    assert "no S/MIME identity" in entry.decision["reply_text"]
