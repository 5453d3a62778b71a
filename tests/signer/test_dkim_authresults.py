"""Authentication-Results: the header we add and the forged ones we remove."""

from __future__ import annotations

import pytest

from signer.authresults import (
    authentication_results,
    authserv_id_of,
    remove_authentication_results,
)
from signer.dkim_verify import AuthResult, DkimResult


def test_header_for_dkim_results() -> None:
    results = [
        DkimResult(AuthResult.PASS, "signature verified", domain="sotc.example.gov.vn",
                   selector="s2026", algorithm="rsa-sha256", signature_prefix="abcd1234"),
        DkimResult(AuthResult.TEMPERROR, "key lookup failed: timed out (retry)",
                   domain="x.vn", selector="ed", algorithm="ed25519-sha256"),
    ]
    assert authentication_results("mx.example.gov.vn", results) == (
        b"Authentication-Results: mx.example.gov.vn;\r\n"
        b"\tdkim=pass (signature verified) header.d=sotc.example.gov.vn header.s=s2026"
        b" header.a=rsa-sha256 header.b=abcd1234;\r\n"
        b"\tdkim=temperror (key lookup failed: timed out \\(retry\\)) header.d=x.vn"
        b" header.s=ed header.a=ed25519-sha256\r\n")


def test_header_quotes_values_that_are_not_tokens() -> None:
    result = DkimResult(AuthResult.PASS, "", domain="x.vn", identity="@x.vn",
                        signature_prefix="a/b+c=d")
    header = authentication_results("mx", [result])
    assert b'header.i="@x.vn"' in header and b'header.b="a/b+c=d"' in header


def test_none_when_nothing_was_checked() -> None:
    assert authentication_results("mx.example.gov.vn", []) == \
        b"Authentication-Results: mx.example.gov.vn; none\r\n"


def test_invalid_authserv_id_is_misuse() -> None:
    with pytest.raises(ValueError, match="authserv-id"):
        authentication_results("mx; dkim=pass", [])


@pytest.mark.parametrize(("value", "expected"), [
    (b" mx.example.gov.vn; dkim=pass", "mx.example.gov.vn"),
    (b" MX.Example.Gov.VN.; none", "mx.example.gov.vn"),
    (b" (forged (nested)) mx.example.gov.vn 1; spf=pass", "mx.example.gov.vn"),
    (b"\r\n\tmx.example.gov.vn;\r\n\tdkim=pass", "mx.example.gov.vn"),
    (b' "mx.example.gov.vn"; dkim=pass', "mx.example.gov.vn"),
    (b" other.example; dkim=pass (mx.example.gov.vn)", "other.example"),
    (b"   ", None),
])
def test_authserv_id_of(value: bytes, expected: str | None) -> None:
    assert authserv_id_of(value) == expected


MESSAGE = (
    b"Received: from a by b\r\n"
    b"Authentication-Results: mx.example.gov.vn; dkim=pass header.d=forged.vn\r\n"
    b"Authentication-Results: other.example;\r\n\tdkim=fail\r\n"
    b"authentication-results: (sneaky) MX.EXAMPLE.GOV.VN;\r\n\tdkim=pass\r\n"
    b"From: a@b.vn\r\n"
    b"\r\n"
    b"Authentication-Results: mx.example.gov.vn; in the body stays\r\n"
)


def test_forged_headers_claiming_our_id_are_removed_byte_exactly() -> None:
    assert remove_authentication_results(MESSAGE, "mx.example.gov.vn") == (
        b"Received: from a by b\r\n"
        b"Authentication-Results: other.example;\r\n\tdkim=fail\r\n"
        b"From: a@b.vn\r\n"
        b"\r\n"
        b"Authentication-Results: mx.example.gov.vn; in the body stays\r\n"
    )


def test_lf_message() -> None:
    message = MESSAGE.replace(b"\r\n", b"\n")
    assert remove_authentication_results(message, "mx.example.gov.vn") == (
        b"Received: from a by b\nAuthentication-Results: other.example;\n\tdkim=fail\n"
        b"From: a@b.vn\n\nAuthentication-Results: mx.example.gov.vn; in the body stays\n")


def test_nothing_to_remove_returns_the_same_bytes() -> None:
    message = b"From: a@b.vn\r\n\r\nbody\r\n"
    assert remove_authentication_results(message, "mx.example.gov.vn") is message
    other = b"Authentication-Results: other.example; none\r\n" + message
    assert remove_authentication_results(other, "mx.example.gov.vn") is other


def test_last_header_without_body() -> None:
    message = b"From: a@b.vn\r\nAuthentication-Results: mx; dkim=pass"
    assert remove_authentication_results(message, "mx") == b"From: a@b.vn\r\n"


def test_malformed_header_section_still_loses_forged_results() -> None:
    message = (b" stray continuation\r\nAuthentication-Results: mx; dkim=pass\r\n"
               b"no colon line\r\nFrom: a@b.vn\r\n\r\nbody\r\n")
    assert remove_authentication_results(message, "mx") == \
        b" stray continuation\r\nno colon line\r\nFrom: a@b.vn\r\n\r\nbody\r\n"


def test_message_without_headers() -> None:
    assert remove_authentication_results(b"\r\nAuthentication-Results: mx;\r\n", "mx") == \
        b"\r\nAuthentication-Results: mx;\r\n"
