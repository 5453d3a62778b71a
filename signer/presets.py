"""Trust presets: Vietnam's government PKI (``vgca``) and the national root (``national``).

Each preset is a list of CA certificates pinned by the SHA-256 of their DER bytes. The
ones this package ships (``signer/pki/``) are the G2 root and issuing CA of the
Government Cipher Committee's CA and the Vietnam National Root CA; the others (the G1
root and the G1 issuing CA most signer certificates in circulation chain to, the Party
bodies' G2 CA) are fetched from the CA's published URLs by ``congvu document trust
fetch`` or imported by ``congvu document trust add FILE``, and installed under
``store_dir/trust/`` only when their pin matches. Every member, shipped or installed,
is checked against its pin when loaded.

Members are trust anchors, trusted by their bytes: a G1 certificate signed with SHA-1
is trusted as what it is, not re-verified under a hash the path builder refuses. The
licensed public CAs under the national root (VNPT-CA, Viettel-CA...) are not members:
their issuing certificates come from each signer's caIssuers URL and count because
they chain to the national root.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mailbase import write_private_durably
from signer.errors import CertificateFileError, FetchError, TrustPinError
from signer.fetch import MAX_CERTIFICATE, Fetcher
from signer.issuers import read_certificates
from signer.trustsettings import TrustPreset as TrustPreset  # also imported from here

_SHIPPED = Path(__file__).resolve().parent / "pki"


@dataclass(frozen=True, slots=True)
class PresetMember:
    """One pinned CA certificate: what it is, its pin, and where it comes from."""

    preset: TrustPreset
    name: str
    sha256: str  # lower-case hex of the DER bytes
    url: str  # where the CA publishes it
    shipped: str | None = None  # the file in signer/pki/, when this package carries it

    @property
    def path(self) -> str:
        """The URL's path, which ``trust fetch --base-url`` appends to another host."""
        return urlsplit(self.url).path


MEMBERS: tuple[PresetMember, ...] = (
    PresetMember(TrustPreset.VGCA, "RootCA chuyên dùng Chính phủ G2",
                 "f04ba4b459a7c9a1b971ad9b1cb833e695a80c79aea63b174b66a70edfe2fdb8",
                 "http://ca.gov.vn/pki/pub/crt/rootcag2.crt", "rootcag2.crt"),
    PresetMember(TrustPreset.VGCA, "CA phục vụ các cơ quan Nhà nước G2",
                 "d8cab7a4aef92e6bb2509d7c61cee7b44f3731b2d21074963530277b366fae4b",
                 "http://ca.gov.vn/pki/pub/crt/cpcag2.crt", "cpcag2.crt"),
    PresetMember(TrustPreset.VGCA, "CA phục vụ các cơ quan Đảng G2",
                 "e4b402e3cb4cacc0a20d21fa49bce76beb4eb47ba7ffb7a8f71c554dbe561a81",
                 "http://ca.gov.vn/pki/pub/crt/dcscag2.crt"),
    PresetMember(TrustPreset.VGCA, "Root CA G1 (2010)",
                 "f7bc89054cec7f12730d7b8cd3eb7955b163835087e5eb873edfb584763b3f90",
                 "http://ca.gov.vn/pki/pub/cert/rootca.crt"),
    PresetMember(TrustPreset.VGCA, "G1 CA for government officials",
                 "75e969c07ba35c29c72bbc1bfb880f20f3891a619b00b77eb02ca6160736a1fe",
                 "http://ca.gov.vn/pki/pub/cert/cp.crt"),
    PresetMember(TrustPreset.NATIONAL, "Vietnam National Root CA",
                 "bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7",
                 "https://rootca.gov.vn/crt/vnrca256.p7b", "vnrca256.crt"),
)


def members(presets: tuple[TrustPreset, ...] | None = None) -> list[PresetMember]:
    """The members of ``presets`` (all presets when None), in order."""
    return [m for m in MEMBERS if presets is None or m.preset in presets]


def fingerprint(cert: x509.Certificate) -> str:
    """The SHA-256 of the certificate's DER bytes, lower-case hex (what pins name)."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def pinned(cert: x509.Certificate) -> PresetMember | None:
    """The preset member ``cert`` is, by its bytes, or None."""
    digest = fingerprint(cert)
    return next((m for m in MEMBERS if m.sha256 == digest), None)


def installed_path(store_dir: Path, member: PresetMember) -> Path:
    """Where a fetched or added member lives."""
    return store_dir / "trust" / f"{member.sha256}.crt"


def load_member(member: PresetMember, store_dir: Path | None) -> x509.Certificate | None:
    """The member's certificate, shipped or installed, checked against its pin; None
    when it is not installed (or no ``store_dir`` to look in is given).

    :raises CertificateFileError: a file that is there but is not the pinned certificate.
    """
    if member.shipped:
        path = _SHIPPED / member.shipped
    elif store_dir is None:
        return None
    else:
        path = installed_path(store_dir, member)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CertificateFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
    try:
        cert = (x509.load_pem_x509_certificate(data) if data.startswith(b"-----BEGIN")
                else x509.load_der_x509_certificate(data))
    except ValueError as exc:
        raise CertificateFileError(path, f"holds no readable certificate ({exc})") from exc
    if fingerprint(cert) != member.sha256:
        raise CertificateFileError(path, f"is not the pinned {member.name} (SHA-256 "
                                   f"{fingerprint(cert)}, pinned {member.sha256})")
    return cert


def load_presets(presets: tuple[TrustPreset, ...], store_dir: Path | None
                 ) -> tuple[list[x509.Certificate], list[PresetMember]]:
    """The anchors the presets give, and the members missing (not fetched or added yet)."""
    anchors, missing = [], []
    for member in members(presets):
        cert = load_member(member, store_dir)
        if cert is None:
            missing.append(member)
        else:
            anchors.append(cert)
    return anchors, missing


def member_of(cert: x509.Certificate, *, source: object) -> PresetMember:
    """The preset member ``cert`` is.

    :raises TrustPinError: no member is pinned to its bytes.
    """
    member = pinned(cert)
    if member is None:
        digest = fingerprint(cert)
        raise TrustPinError(source, digest, f"{cert.subject.rfc4514_string()} (SHA-256 "
                            f"{digest}) is not a pinned member of any trust preset; "
                            "refused")
    return member


def missing_members(presets: tuple[TrustPreset, ...], store_dir: Path
                    ) -> list[PresetMember]:
    """The members of ``presets`` neither shipped nor installed (for `doctor` and the
    command line); a damaged file counts as missing."""
    found = []
    for member in members(presets):
        try:
            if load_member(member, store_dir) is None:
                found.append(member)
        except CertificateFileError:
            found.append(member)
    return found


def install(cert: x509.Certificate, store_dir: Path, *, source: object) -> PresetMember:
    """Install ``cert`` as the preset member its pin names.

    :raises TrustPinError: no member is pinned to its bytes.
    """
    member = member_of(cert, source=source)
    if member.shipped:
        return member  # already in the package
    path = installed_path(store_dir, member)
    path.parent.mkdir(parents=True, exist_ok=True)
    # written whole and synced: a crash leaves the member installed or not, never half
    write_private_durably(path, cert.public_bytes(serialization.Encoding.DER))
    return member


def fetch_member(member: PresetMember, fetcher: Fetcher, store_dir: Path, *,
                 base_url: str | None = None) -> str:
    """Fetch ``member`` from the CA's published URL (or the same path on ``base_url``)
    and install it; return the URL it came from.

    :raises FetchError: not fetched, holding no certificate, or none matching the pin
        (nothing is installed then).
    """
    url = member.url if base_url is None else base_url.rstrip("/") + member.path
    data = fetcher.get(url, max_bytes=MAX_CERTIFICATE)
    try:
        certs = read_certificates(data)
    except ValueError as exc:
        raise FetchError(url, f"holds no readable certificate ({exc})") from exc
    match = next((c for c in certs if pinned(c) == member), None)
    if match is None:
        raise FetchError(url, f"does not hold the pinned certificate (SHA-256 "
                         f"{member.sha256}); refused")
    install(match, store_dir, source=url)
    return url
