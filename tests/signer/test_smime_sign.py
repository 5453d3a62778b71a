"""S/MIME signing: the wrapper's shape, canonical content, identities and key files."""

from __future__ import annotations

import base64
import email
import email.policy
import os
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from pydantic import ValidationError

from signer.errors import KeyFileError
from signer.smime import (
    SignStatus,
    SmimeConfig,
    SmimeIdentity,
    SmimeSigner,
    load_identity,
    load_pem_identity,
)
from signer.smime.mime import (
    canonical_content,
    is_7bit_safe,
    is_content,
    split_entity,
    split_multipart,
)
from support.pki import new_key
from support.smime import ALICE, BOB, cast, identity, message


def _parts(signed: bytes) -> tuple[bytes, bytes, str]:
    entity = split_entity(signed)
    ctype = entity.content_type()
    parts, closed = split_multipart(entity.body, ctype.param("boundary") or "")
    assert closed and len(parts) == 2
    return parts[0], parts[1], ctype.mime_type


def test_wraps_as_detached_multipart_signed() -> None:
    raw = message()
    result = SmimeSigner.single(identity(cast().alice)).sign(raw, identity(cast().alice))
    assert result.status is SignStatus.SIGNED and result.is_signed
    entity = split_entity(result.message)
    ctype = entity.content_type()
    assert ctype.mime_type == "multipart/signed"
    assert ctype.param("protocol") == "application/pkcs7-signature"
    assert ctype.param("micalg") == "sha-256"
    content, signature, _ = _parts(result.message)
    assert content == b"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + message().split(
        b"\r\n\r\n", 1)[1]
    sig = split_entity(signature)
    assert sig.content_type().mime_type == "application/pkcs7-signature"
    info = acms.ContentInfo.load(base64.b64decode(sig.body))
    signed = info["content"]
    assert signed["encap_content_info"]["content"].native is None  # detached
    names = [c.chosen.subject.native["common_name"] for c in signed["certificates"]]
    assert ALICE in names and any("Issuing CA" in n for n in names)
    attrs = {a["type"].native for a in signed["signer_infos"][0]["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_time", "smime_capabilities"} <= attrs
    assert signed["signer_infos"][0]["digest_algorithm"]["algorithm"].native == "sha256"


def test_outer_headers_are_kept_byte_for_byte_and_content_headers_move_inside() -> None:
    raw = message(extra=b"X-Folded: one\r\n two\r\nContent-Language: vi\r\n",
                  subject="=?utf-8?q?C=C3=B4ng_v=C4=83n?=")
    signed = SmimeSigner().sign(raw, identity(cast().alice)).message
    head = signed.split(b"\r\n\r\n", 1)[0] + b"\r\n"
    original_outer = b"".join(
        f.raw + b"\r\n" for f in split_entity(raw).fields if not is_content(f))
    assert head.startswith(original_outer)
    assert b"Content-Language" not in head
    content, _, _ = _parts(signed)
    assert content.startswith(b"Content-Language: vi\r\nContent-Type: text/plain")


def test_lf_input_gives_lf_output_and_signs_the_crlf_form() -> None:
    raw = message(eol=b"\n")
    signed = SmimeSigner().sign(raw, identity(cast().alice)).message
    assert b"\r\n" not in signed
    content, _, _ = _parts(signed)
    assert content.replace(b"\n", b"\r\n") == canonical_content(
        [f for f in split_entity(raw).fields if is_content(f)], split_entity(raw).body)


def test_eight_bit_text_is_quoted_printable_and_binary_is_base64() -> None:
    body = (
        b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit"
        b"\r\n\r\nC\xc3\xb4ng v\xc4\x83n s\xe1\xbb\x91 12\r\n"
        b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary"
        b"\r\n\r\n\x00\x01\xff\xfe\r\n--b1--\r\n"
    )
    raw = message(content_type=b'multipart/mixed; boundary="b1"', cte=b"8bit", body=body)
    signed = SmimeSigner().sign(raw, identity(cast().alice)).message
    content, _, _ = _parts(signed)
    assert is_7bit_safe(content)
    parsed = email.message_from_bytes(content, policy=email.policy.default)
    text, blob = list(parsed.iter_parts())
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    assert text.get_content() == "Công văn số 12"
    assert blob["Content-Transfer-Encoding"] == "base64"
    assert blob.get_content() == b"\x00\x01\xff\xfe"
    assert parsed["Content-Transfer-Encoding"] == "7bit"


@pytest.mark.parametrize("length", [997, 998, 999, 1000, 1996, 1997, 1998])
@pytest.mark.parametrize("before", [0, 1, 499, 500, 501, 998, 1499])
def test_the_long_line_check_finds_a_line_over_998_octets_wherever_it_starts(
        length: int, before: int) -> None:
    # the check looks for a line feed in each 500-octet block: a long line straddling
    # the blocks' edges at any offset, between short lines, is found as splitting finds it
    head = b"ab\r\n" * (before // 4) + b"x" * (before % 4)
    data = head + b"\n" + b"y" * (length - 1) + b"\r\n" + b"short\r\n" * 300
    expected = max(map(len, data.split(b"\n"))) <= 998
    assert is_7bit_safe(data) is expected
    assert is_7bit_safe(data) is (length <= 998 and max(map(len, head.split(b"\n"))) <= 998)


def test_overlong_lines_are_reencoded() -> None:
    raw = message(body=b"x" * 1500 + b"\r\n")
    content, _, _ = _parts(SmimeSigner().sign(raw, identity(cast().alice)).message)
    assert is_7bit_safe(content)
    assert b"quoted-printable" in content


@pytest.mark.parametrize("ctype", [
    b'multipart/signed; protocol="application/pkcs7-signature"; boundary=x',
    b"application/pkcs7-mime; smime-type=enveloped-data",
    b"application/x-pkcs7-mime; smime-type=signed-data",
    b'multipart/encrypted; protocol="application/pgp-encrypted"; boundary=x',
])
def test_signed_or_encrypted_mail_is_skipped_unchanged(ctype: bytes) -> None:
    raw = message(content_type=ctype, body=b"--x--\r\n")
    result = SmimeSigner().sign(raw, identity(cast().alice))
    assert result.status is SignStatus.SKIPPED and not result.is_signed
    assert result.message is raw
    assert result.reason.startswith("not signed again")


def test_a_signed_message_is_not_signed_twice() -> None:
    signer = SmimeSigner()
    once = signer.sign(message(), identity(cast().alice)).message
    assert signer.sign(once, identity(cast().alice)).status is SignStatus.SKIPPED


def test_message_without_content_headers_gets_default_type() -> None:
    raw = b"From: " + ALICE.encode() + b"\r\nSubject: x\r\n\r\nhello\r\n"
    signed = SmimeSigner().sign(raw, identity(cast().alice)).message
    assert signed.startswith(b"From: " + ALICE.encode() + b"\r\nSubject: x\r\nMIME-Version: 1.0")
    content, _, _ = _parts(signed)
    assert content == b"\r\nhello\r\n"


def test_the_result_says_whether_the_signed_entity_is_the_content_as_it_came() -> None:
    """(the archive's index then reads the message's parts as the pipeline walked them)"""
    signer = SmimeSigner()
    alice = identity(cast().alice)
    for raw in (message(), message(eol=b"\n"),
                b"From: " + ALICE.encode() + b"\r\nSubject: x\r\n\r\nhello\r\n"):
        result = signer.sign(raw, alice)
        content, signature, _ = _parts(result.message)
        entity = split_entity(raw)
        assert result.is_verbatim and content == b"".join(
            f.raw + entity.eol for f in entity.fields if is_content(f)) + entity.eol + entity.body
        assert result.signature_name == "smime.p7s"
        assert b'filename="smime.p7s"' in signature and b'name="smime.p7s"' in signature
    for changed in (message(body=b"mot\ndong hai\r\n"),  # line ends made one
                    message(cte=b"8bit", body="Công văn\r\n".encode())):  # re-encoded
        result = signer.sign(changed, alice)
        assert result.is_signed and not result.is_verbatim
    skipped = signer.sign(result.message, alice)
    assert not skipped.is_signed and not skipped.is_verbatim and skipped.signature_name == ""


# --- identities and key files -------------------------------------------------------


def test_identity_selection_order(tmp_path: Path) -> None:
    a, b, c = identity(cast().alice, "a"), identity(cast().bob, "b"), identity(cast().carol, "c")
    signer = SmimeSigner(by_address={ALICE: a}, by_unit={"so-tc": b},
                         patterns=[("*@so-yt.province.gov.vn", c)])
    assert signer.identity_for(ALICE.upper(), unit="so-tc") is a
    assert signer.identity_for(BOB, unit="so-tc") is b
    assert signer.identity_for("x@SO-YT.province.gov.vn") is c
    assert signer.identity_for("x@elsewhere.vn") is None


def test_from_config_loads_pem_and_pkcs12(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = cast().alice.write(tmp_path, "alice")
    p12 = cast().bob.write_pkcs12(tmp_path, "bob", b"s3cret")
    passfile = tmp_path / "bob.pass"
    passfile.write_bytes(b"s3cret\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("CONGVU_TEST_P12", "s3cret")
    config = SmimeConfig(identities=(
        SmimeIdentity(address=ALICE, cert=cert, key=key),
        SmimeIdentity(unit="so-tc", pkcs12=p12, passphrase_file=passfile),
        SmimeIdentity(pattern="*@so-yt.province.gov.vn", pkcs12=p12,
                      passphrase_env="CONGVU_TEST_P12"),
    ))
    signer = SmimeSigner.from_config(config)
    assert signer.identity_for(ALICE) is not None
    unit = signer.identity_for("nobody@x.vn", unit="so-tc")
    assert unit is not None and unit.names(BOB) and len(unit.chain) == 1
    assert signer.identity_for("z@so-yt.province.gov.vn") is not None
    assert "key" not in repr(unit).lower().replace("signingidentity", "")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_readable_by_others_is_refused_naming_the_path(tmp_path: Path, mode: int) -> None:
    cert, key = cast().alice.write(tmp_path, "alice", key_mode=mode)
    with pytest.raises(KeyFileError) as caught:
        load_pem_identity(cert, key)
    assert caught.value.path == key
    assert str(key) in str(caught.value) and "chmod 600" in str(caught.value)


def test_key_0400_is_accepted(tmp_path: Path) -> None:
    cert, key = cast().alice.write(tmp_path, "alice", key_mode=0o400)
    assert load_pem_identity(cert, key).names(ALICE)


def test_bad_key_files(tmp_path: Path) -> None:
    cert, key = cast().alice.write(tmp_path, "alice")
    _, other_key = cast().bob.write(tmp_path, "bob")
    with pytest.raises(KeyFileError, match="does not belong"):
        load_pem_identity(cert, other_key)
    with pytest.raises(KeyFileError, match="cannot be read"):
        load_pem_identity(cert, tmp_path / "missing.key")
    garbage = tmp_path / "garbage.key"
    garbage.write_bytes(b"not a key")
    garbage.chmod(0o600)
    with pytest.raises(KeyFileError, match="no readable PEM"):
        load_pem_identity(cert, garbage)
    bad_cert = tmp_path / "bad.pem"
    bad_cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(KeyFileError) as caught:
        load_pem_identity(bad_cert, key)
    assert caught.value.path == bad_cert


def test_expired_certificate_is_refused_at_load(tmp_path: Path) -> None:
    cert, key = cast().expired.write(tmp_path, "old")
    with pytest.raises(KeyFileError, match="not valid now"):
        load_pem_identity(cert, key)


def test_weak_rsa_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    issued = cast().pki.issue(ALICE, key=weak)
    cert, key = issued.write(tmp_path, "weak")
    with pytest.raises(KeyFileError, match="1024 bits"):
        load_pem_identity(cert, key)


def test_ec_identity_signs(tmp_path: Path) -> None:
    issued = cast().pki.issue(ALICE, key=new_key("ec"))
    cert, key = issued.write(tmp_path, "ec")
    loaded = load_pem_identity(cert, key)
    assert SmimeSigner().sign(message(), loaded).is_signed


def test_pkcs12_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p12 = cast().bob.write_pkcs12(tmp_path, "bob", b"right")
    monkeypatch.setenv("CONGVU_TEST_WRONG", "wrong")
    with pytest.raises(KeyFileError, match="wrong passphrase") as caught:
        load_identity(SmimeIdentity(address=BOB, pkcs12=p12, passphrase_env="CONGVU_TEST_WRONG"))
    assert caught.value.path == p12
    monkeypatch.delenv("CONGVU_TEST_UNSET", raising=False)
    with pytest.raises(KeyFileError, match="CONGVU_TEST_UNSET"):
        load_identity(SmimeIdentity(address=BOB, pkcs12=p12, passphrase_env="CONGVU_TEST_UNSET"))
    passfile = tmp_path / "open.pass"
    passfile.write_bytes(b"right")
    os.chmod(passfile, 0o644)
    with pytest.raises(KeyFileError) as caught:
        load_identity(SmimeIdentity(address=BOB, pkcs12=p12, passphrase_file=passfile))
    assert caught.value.path == passfile


@pytest.mark.parametrize("fields", [
    {"cert": "a.pem", "key": "a.key"},  # no selector
    {"address": "a@b.vn", "unit": "u", "cert": "a.pem", "key": "a.key"},
    {"address": "a@b.vn", "cert": "a.pem"},
    {"address": "a@b.vn", "pkcs12": "a.p12", "key": "a.key"},
    {"address": "a@b.vn", "cert": "a.pem", "key": "a.key", "passphrase_env": "X"},
    {"address": "a@b.vn", "pkcs12": "a.p12", "passphrase_env": "X", "passphrase_file": "p"},
    {"address": "a@b.vn", "pkcs12": "a.p12", "passphrase": "in-toml"},
])
def test_identity_config_errors(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        SmimeIdentity.model_validate(fields)
