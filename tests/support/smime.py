"""S/MIME test material: one shared PKI with the usual cast, and message builders.

``cast()`` is built once per test session (key generation is the slow part)::

    c = cast()
    c.alice            # valid, emailProtection, alice@<domain>
    c.expired, c.revoked, c.server_only, c.unchained, c.shared (alice + bob)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from signer.smime import SigningIdentity
from signer.trust import TrustStore
from support.keypool import POOL
from support.pki import SERVER_AUTH, Issued, TestPki

DOMAIN = "province.gov.vn"
ALICE = f"alice@so-tc.{DOMAIN}"
BOB = f"bob@so-tc.{DOMAIN}"
CAROL = f"carol@so-yt.{DOMAIN}"


@dataclass(frozen=True)
class Cast:
    """The PKI and its certificates, each for a named situation."""

    pki: TestPki
    alice: Issued
    bob: Issued
    carol: Issued
    expired: Issued
    revoked: Issued
    server_only: Issued
    no_eku: Issued
    unchained: Issued
    shared: Issued

    def trust(self, *, crl: bool = True, intermediates: bool = False) -> TrustStore:
        """A trust store with the root (and the intermediate, and both CAs' CRLs)."""
        return TrustStore(
            anchors=[self.pki.root.cert],
            intermediates=[self.pki.intermediate.cert] if intermediates else [],
            crls=[self.pki.crl(), self.pki.crl(issuer=self.pki.root)] if crl else [],
        )

    def write(self, directory: Path) -> Path:
        """Write root.pem, intermediate.pem, crl.pem into ``directory``; return it."""
        self.pki.write(directory)
        return directory


@functools.cache
def cast() -> Cast:
    """The shared cast (made once per session, so its keys are its own for good)."""
    with POOL.lasting():
        return _cast()


def _cast() -> Cast:
    pki = TestPki.create()
    other = TestPki.create()
    revoked = pki.issue(f"gone@so-tc.{DOMAIN}")
    pki.revoke(revoked)
    return Cast(
        pki=pki,
        alice=pki.issue(ALICE),
        bob=pki.issue(BOB),
        carol=pki.issue(CAROL),
        expired=pki.issue(f"old@so-tc.{DOMAIN}", expired=True),
        revoked=revoked,
        server_only=pki.issue(f"web@so-tc.{DOMAIN}", eku=(SERVER_AUTH,)),
        no_eku=pki.issue(f"plain@so-tc.{DOMAIN}", eku=None),
        unchained=other.issue(ALICE),
        shared=pki.issue(ALICE, BOB),
    )


def identity(issued: Issued, label: str = "test") -> SigningIdentity:
    """A signing identity straight from test material (no file or validity checks)."""
    return SigningIdentity(issued.cert, tuple(c for c in issued.chain
                                              if c.subject != c.issuer),
                           issued.key, label)  # type: ignore[arg-type]


def message(*, sender: str = ALICE, to: str = BOB, subject: str = "Cong van so 12",
            body: bytes = b"Kinh gui Bob,\r\nXin gui cong van.\r\n",
            content_type: bytes = b"text/plain; charset=us-ascii",
            cte: bytes | None = None, eol: bytes = b"\r\n", extra: bytes = b"") -> bytes:
    """A simple message; ``eol`` sets the line ends of the whole thing."""
    head = (
        b"From: Alice <" + sender.encode() + b">\r\n"
        b"To: " + to.encode() + b"\r\n"
        b"Subject: " + subject.encode() + b"\r\n"
        b"Date: Thu, 26 Nov 2026 10:00:00 +0700\r\n"
        b"Message-ID: <12@so-tc.province.gov.vn>\r\n"
        b"MIME-Version: 1.0\r\n" + extra
        + b"Content-Type: " + content_type + b"\r\n"
    )
    if cte is not None:
        head += b"Content-Transfer-Encoding: " + cte + b"\r\n"
    raw = head + b"\r\n" + body
    return raw if eol == b"\r\n" else raw.replace(b"\r\n", eol)


def pem(issued: Issued) -> bytes:
    """The certificate of ``issued`` in PEM."""
    return issued.cert.public_bytes(serialization.Encoding.PEM)


def address(issued: Issued) -> str:
    """The first rfc822Name of a certificate."""
    from cryptography import x509

    san = issued.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return str(san.get_values_for_type(x509.RFC822Name)[0])
