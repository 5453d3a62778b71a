"""Interop with OpenSSL, both ways: `openssl cms -verify` on ours, ours on `openssl cms -sign`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from signer.smime import SmimeSigner, SmimeStatus, SmimeVerifier
from support.smime import ALICE, BOB, cast, identity, message

OPENSSL = shutil.which("openssl")
pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(OPENSSL is None, reason="openssl is not installed")]


def openssl(*args: str | Path, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *map(str, args)], input=stdin, capture_output=True,
                          timeout=30, check=False)


def openssl_verify(tmp_path: Path, signed: bytes) -> subprocess.CompletedProcess[bytes]:
    files = cast().pki.write(tmp_path / "pki")
    path = tmp_path / "signed.eml"
    path.write_bytes(signed)
    return openssl("cms", "-verify", "-CAfile", files.root, "-in", path,
                   "-purpose", "smimesign", "-out", tmp_path / "content.out")


def test_openssl_verifies_our_signature(tmp_path: Path) -> None:
    raw = message(body="Kính gửi Sở Tài chính\r\n".encode(), cte=b"8bit",
                  content_type=b"text/plain; charset=utf-8")
    signed = SmimeSigner().sign(raw, identity(cast().alice)).message
    done = openssl_verify(tmp_path, signed)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Verification successful" in done.stderr
    assert b"K=C3=ADnh g=E1=BB=ADi" in (tmp_path / "content.out").read_bytes()


def test_openssl_verifies_our_lf_output(tmp_path: Path) -> None:
    signed = SmimeSigner().sign(message(eol=b"\n"), identity(cast().alice)).message
    done = openssl_verify(tmp_path, signed)
    assert done.returncode == 0, done.stderr.decode()


def test_openssl_rejects_our_signature_with_one_tampered_byte(tmp_path: Path) -> None:
    signed = SmimeSigner().sign(message(), identity(cast().alice)).message
    tampered = signed.replace(b"Xin gui cong van.", b"Xin gui cong vaN.")
    done = openssl_verify(tmp_path, tampered)
    assert done.returncode != 0
    assert b"content verify error" in done.stderr.lower()


@pytest.mark.parametrize("detached", [True, False])
def test_we_verify_openssl_signatures(tmp_path: Path, detached: bool) -> None:
    files = cast().pki.write(tmp_path / "pki")
    cert, key = cast().alice.write(tmp_path, "alice", with_chain=False)
    body = tmp_path / "body.txt"
    body.write_bytes(b"Content-Type: text/plain\r\n\r\nCong van so 12 gui So Tai chinh.\r\n")
    out = tmp_path / "ossl.eml"
    done = openssl("cms", "-sign", "-signer", cert, "-inkey", key, "-certfile",
                   files.intermediate, "-in", body, "-out", out, "-from", ALICE, "-to", BOB,
                   "-subject", "Cong van", *([] if detached else ["-nodetach"]))
    assert done.returncode == 0, done.stderr.decode()
    signed = out.read_bytes()
    verifier = SmimeVerifier(cast().trust())
    result = verifier.verify(signed)
    assert result.status is SmimeStatus.PASS, result.reason
    assert result.signer == ALICE
    if detached:
        tampered = signed.replace(b"So Tai chinh", b"So Tai chinH")
        assert tampered != signed
        bad = verifier.verify(tampered)
        assert bad.status is SmimeStatus.FAIL and "digest mismatch" in bad.reason
    else:
        # Opaque: one flipped bit inside the base64 body breaks the signature.
        lines = signed.split(b"\n")
        index = next(i for i, line in enumerate(lines) if line.startswith(b"MII")) + 1
        lines[index] = bytes([lines[index][0] ^ 0x01]) + lines[index][1:]
        bad = verifier.verify(b"\n".join(lines))
        assert bad.status in {SmimeStatus.FAIL, SmimeStatus.PERMERROR}


def test_openssl_signature_without_chain_needs_configured_intermediate(tmp_path: Path) -> None:
    cert, key = cast().alice.write(tmp_path, "alice", with_chain=False)
    body = tmp_path / "body.txt"
    body.write_bytes(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    out = tmp_path / "ossl.eml"
    done = openssl("cms", "-sign", "-signer", cert, "-inkey", key, "-in", body, "-out", out,
                   "-from", ALICE)
    assert done.returncode == 0
    signed = out.read_bytes()
    assert SmimeVerifier(cast().trust()).verify(signed).status is SmimeStatus.FAIL
    assert SmimeVerifier(cast().trust(intermediates=True)).verify(signed).is_pass


def test_openssl_rejects_a_revoked_signer_too(tmp_path: Path) -> None:
    # Cross-check of our revocation verdict with OpenSSL's own CRL check.
    from support.smime import address

    gone = cast().revoked
    signed = SmimeSigner().sign(message(sender=address(gone)), identity(gone)).message
    files = cast().pki.write(tmp_path / "pki")
    path = tmp_path / "signed.eml"
    path.write_bytes(signed)
    # openssl cms reads CRLs from the CAfile.
    bundle = tmp_path / "ca-and-crls.pem"
    bundle.write_bytes(files.root.read_bytes() + files.crl.read_bytes()
                       + files.root_crl.read_bytes())
    done = openssl("cms", "-verify", "-CAfile", bundle, "-crl_check_all",
                   "-in", path, "-out", tmp_path / "c.out")
    assert done.returncode != 0 and b"revoked" in done.stderr.lower()
    assert SmimeVerifier(cast().trust()).verify(signed).status is SmimeStatus.FAIL


GPGSM = shutil.which("gpgsm")
GPGCONF = shutil.which("gpgconf")


@pytest.mark.skipif(GPGSM is None or GPGCONF is None, reason="gpgsm is not installed")
def test_gpgsm_verifies_our_signature_and_rejects_a_tampered_byte() -> None:
    import base64
    import tempfile

    from cryptography.hazmat.primitives import hashes

    from signer.smime.mime import split_entity, split_multipart

    assert GPGSM is not None and GPGCONF is not None
    signed = SmimeSigner().sign(message(), identity(cast().alice)).message
    entity = split_entity(signed)
    parts, _ = split_multipart(entity.body, entity.content_type().param("boundary") or "")
    # A short home directory: gpg-agent's socket path must fit in sun_path.
    home = Path(tempfile.mkdtemp(prefix="gsm", dir="/tmp"))
    try:
        files = cast().pki.write(home / "pki")
        fingerprint = cast().pki.root.cert.fingerprint(hashes.SHA1()).hex(":").upper()
        (home / "trustlist.txt").write_text(f"{fingerprint} S relax\n")
        base = [GPGSM, "--homedir", str(home), "--batch", "--disable-crl-checks",
                "--disable-dirmngr"]
        subprocess.run([*base, "--import", str(files.root), str(files.intermediate)],
                       capture_output=True, timeout=60, check=True)
        (home / "sig.p7s").write_bytes(base64.b64decode(split_entity(parts[1]).body))
        (home / "content").write_bytes(parts[0])
        good = subprocess.run([*base, "--verify", str(home / "sig.p7s"), str(home / "content")],
                              capture_output=True, timeout=60, check=False)
        assert good.returncode == 0, good.stderr.decode()
        assert b"Good signature" in good.stderr
        (home / "content").write_bytes(parts[0].replace(b"cong van.", b"cong vaN."))
        bad = subprocess.run([*base, "--verify", str(home / "sig.p7s"), str(home / "content")],
                             capture_output=True, timeout=60, check=False)
        assert bad.returncode != 0
        assert b"message digest attribute does not match" in bad.stderr
    finally:
        subprocess.run([GPGCONF, "--homedir", str(home), "--kill", "gpg-agent"],
                       capture_output=True, timeout=30, check=False)
        shutil.rmtree(home, ignore_errors=True)
