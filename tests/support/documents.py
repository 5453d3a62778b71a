"""Signed-document test material: PDFs made and signed with pyHanko, Office packages.

Built on the shared test PKI (support.pki, via support.smime's cast)::

    pdf = plain_pdf()                              # an unsigned one-page PDF
    signed = sign_pdf(pdf, cast().alice)           # PAdES, SHA-256, signing time now
    old = sign_pdf(pdf, cast().alice, subfilter="adbe.pkcs7.detached", digest="sha1")
    changed = alter_page(signed)                   # incremental update: new page text
    both = sign_pdf(signed, cast().bob, field="Signature2")

Everything is made in memory; nothing touches the network.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import zipfile
from base64 import b64encode
from concurrent.futures import ThreadPoolExecutor

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from support.pki import Issued


def plain_pdf(*, text: str = "Cong van so 123/UBND", pages: int = 1, padding: int = 0) -> bytes:
    """A small valid PDF (classic xref table); ``padding`` bytes of incompressible
    filler go into an extra stream so a test can reach a given file size."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font = 3 + 2 * pages
    for i in range(pages):
        content = f"BT /F1 18 Tf 72 760 Td ({text} - trang {i + 1}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content
                       + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    if padding:
        filler = _filler(padding)
        objects.append(b"<< /Length %d >>\nstream\n" % len(filler) + filler + b"\nendstream")
    return pdf_of(objects)


def pdf_of(objects: list[bytes]) -> bytes:
    """A PDF file of ``objects`` (numbered from 1, the catalog first), with its xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def _filler(size: int) -> bytes:
    # a cheap deterministic pseudo-random byte stream (xorshift), not compressible
    import hashlib

    block = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(2048))
    return (block * (size // len(block) + 1))[:size]


def _asn1_cert(cert: object) -> asn1_x509.Certificate:
    from cryptography import x509

    assert isinstance(cert, x509.Certificate)
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _asn1_key(issued: Issued) -> asn1_keys.PrivateKeyInfo:
    return asn1_keys.PrivateKeyInfo.load(issued.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))


def signer_for(issued: Issued, *, extra_certs: tuple[object, ...] = ()) -> signers.SimpleSigner:
    """A pyHanko signer holding ``issued``'s key, carrying its chain (and extras)."""
    chain = [_asn1_cert(c) for c in (*issued.chain, *extra_certs)]
    return signers.SimpleSigner(
        signing_cert=_asn1_cert(issued.cert),
        signing_key=_asn1_key(issued),
        cert_registry=SimpleCertificateStore.from_certs(chain),
    )


def timestamper(tsa: Issued, at: dt.datetime | None = None) -> DummyTimeStamper:
    """A local time-stamping authority signing with ``tsa`` (fixed time ``at``)."""
    return DummyTimeStamper(
        tsa_cert=_asn1_cert(tsa.cert), tsa_key=_asn1_key(tsa),
        certs_to_embed=SimpleCertificateStore.from_certs(
            [_asn1_cert(c) for c in tsa.chain]),
        fixed_dt=at,
    )


def sign_pdf(pdf: bytes, issued: Issued, *, field: str = "Signature1",
             subfilter: str = "pades", digest: str = "sha256",
             tsa: DummyTimeStamper | None = None, name: str | None = None,
             certify: bool = False, extra_certs: tuple[object, ...] = ()) -> bytes:
    """``pdf`` with one more signature (an incremental update) by ``issued``."""
    sub = {
        "pades": fields.SigSeedSubFilter.PADES,
        "adbe.pkcs7.detached": fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
    }[subfilter]
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    meta = signers.PdfSignatureMetadata(
        field_name=field, md_algorithm=digest, subfilter=sub, name=name, certify=certify,
    )
    out = io.BytesIO()

    def sign() -> None:
        signers.sign_pdf(writer, meta, signer=signer_for(issued, extra_certs=extra_certs),
                         timestamper=tsa, output=out)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        sign()
    else:  # pyHanko's synchronous API runs its own event loop: not inside another one
        with ThreadPoolExecutor(1) as executor:
            executor.submit(sign).result()
    return out.getvalue()


def sign_pdf_sha1_form(pdf: bytes, issued: Issued) -> bytes:
    """``pdf`` signed in the old adbe.pkcs7.sha1 form: the CMS encapsulates the SHA-1
    of the byte range (pyHanko does not write this form: its detached signature is
    made, then its /SubFilter and /Contents are redone)."""
    import hashlib
    import re

    data = sign_pdf(pdf, issued, subfilter="adbe.pkcs7.detached")
    data = data.replace(b"/adbe.pkcs7.detached", b"/adbe.pkcs7.sha1    ")
    ranges = re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", data)[-1]
    a, b, c, d = (int(x) for x in ranges)
    digest = hashlib.sha1(data[a:a + b] + data[c:c + d]).digest()
    signer = signer_for(issued)
    cms_der = asyncio.run(signer.async_sign_general_data(digest, "sha1", detached=False))
    hexed = cms_der.dump().hex().upper().encode()
    slot = c - (a + b) - 2  # the hex digits between < and >
    assert len(hexed) <= slot
    return data[:a + b + 1] + hexed.ljust(slot, b"0") + data[c - 1:]


def alter_page(pdf: bytes, text: str = "Cong van da bi sua") -> bytes:
    """``pdf`` with an incremental update that replaces the first page's content."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    page_ref = writer.root["/Pages"].raw_get("/Kids")[0]
    page = page_ref.get_object()
    content = f"BT /F1 18 Tf 72 760 Td ({text}) Tj ET".encode()
    page["/Contents"] = writer.add_object(generic.StreamObject(stream_data=content))
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def add_annotation_free_update(pdf: bytes) -> bytes:
    """``pdf`` with an incremental update that only changes the Info dictionary."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def flip_in_first_revision(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """Replace ``old`` by ``new`` (same length) at its first occurrence: a signed byte
    changed in place, as a broken signature looks."""
    assert len(old) == len(new)
    index = pdf.index(old)
    return pdf[:index] + new + pdf[index + len(old):]


def garble_contents(pdf: bytes) -> bytes:
    """The last signature's /Contents replaced by hex that is not CMS (same length)."""
    start = pdf.rindex(b"/Contents <") + len(b"/Contents <")
    end = pdf.index(b">", start)
    garbage = (b"DEADBEEF" * ((end - start) // 8 + 1))[: end - start]
    return pdf[:start] + garbage + pdf[end:]


def encrypted_pdf(user_password: str = "secret") -> bytes:
    """A PDF encrypted with a user password (RC4/AES as pyHanko chooses)."""
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    writer.encrypt("owner-" + user_password, user_password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    """A zip archive of ``members`` (name -> bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _xml_signature(issued: Issued, sig_id: str = "idPackageSignature") -> bytes:
    # the claimed time: an hour after the certificate became valid
    claimed = issued.cert.not_valid_before_utc + dt.timedelta(hours=1)

    ders = [c.public_bytes(serialization.Encoding.DER) for c in (issued.cert, *issued.chain)]
    certs = "".join(f"<X509Certificate>{b64encode(d).decode()}</X509Certificate>" for d in ders)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#" Id="{sig_id}">'
        "<SignedInfo><CanonicalizationMethod "
        'Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
        '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        "</SignedInfo><SignatureValue>AAAA</SignatureValue>"
        f"<KeyInfo><X509Data>{certs}"
        "</X509Data></KeyInfo>"
        "<Object><SignatureProperties><SignatureProperty>"
        '<SignatureTime xmlns="http://schemas.openxmlformats.org/package/2006/digital-signature">'
        f"<Value>{claimed:%Y-%m-%dT%H:%M:%SZ}</Value></SignatureTime>"
        "</SignatureProperty></SignatureProperties></Object></Signature>"
    ).encode()


def docx(signer: Issued | None = None) -> bytes:
    """A minimal .docx package; with ``signer``, an XML signature part naming it."""
    members = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.'
                               b'openxmlformats.org/package/2006/content-types"/>',
        "_rels/.rels": b'<?xml version="1.0"?><Relationships/>',
        "word/document.xml": b'<?xml version="1.0"?><w:document xmlns:w="http://schemas.'
                             b'openxmlformats.org/wordprocessingml/2006/main"/>',
    }
    if signer is not None:
        members["_xmlsignatures/origin.sigs"] = b""
        members["_xmlsignatures/sig1.xml"] = _xml_signature(signer)
    return zip_of(members)


def odt(signer: Issued | None = None) -> bytes:
    """A minimal .odt package; with ``signer``, META-INF/documentsignatures.xml."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), b"application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", b'<?xml version="1.0"?><office:document-content '
                         b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"/>')
        archive.writestr("META-INF/manifest.xml", b'<?xml version="1.0"?><manifest/>')
        if signer is not None:
            archive.writestr(
                "META-INF/documentsignatures.xml",
                b'<?xml version="1.0"?><document-signatures xmlns="urn:oasis:names:tc:'
                b'opendocument:xmlns:digitalsignature:1.0">'
                + _xml_signature(signer).split(b"?>", 1)[1] + b"</document-signatures>")
    return out.getvalue()
