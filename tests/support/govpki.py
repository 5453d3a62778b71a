"""A look-alike of the government PKI, and a CA web server on loopback.

Shaped like the real one (the public certificates in signer/pki/): a root, an issuing
CA under it with pathlen 0, the government certificate policy and the CA's URLs
(caIssuers, CRL distribution point), signers with the EKU set of real signer
certificates, and signatures whose CMS carries only the signer's certificate. The URLs
point at :class:`CaWebServer`, a real HTTP server in the test process, which serves
the certificates and CRLs as the CA publishes them and counts the requests.

Keys are RSA-2048 from the session's pool (support/keypool.py), the CAs' included:
the real root and issuing CA are RSA-4096, and a 4096-bit key costs most of a second
of CPU to make, so only the test that builds the PKI with ``ca_bits=4096`` pays it. A
"G1-like" generation has its CA certificates signed with SHA-1, re-signed through
asn1crypto because cryptography no longer signs with SHA-1.
"""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from support.keypool import POOL
from support.pki import Issued

#: The government PKI's certificate policy (on the real G2 issuing CA).
GOV_POLICY = x509.ObjectIdentifier("2.16.704.1.1.1.1.1")
#: The EKUs of the signer certificates in circulation.
SIGNER_EKU = (ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.EMAIL_PROTECTION)
GOV_O = "Ban Cơ yếu Chính phủ"


def gov_name(common_name: str, organisation: str = GOV_O) -> x509.Name:
    """A CA name in the real PKI's shape (C, O, CN)."""
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


class CaWebServer:
    """An HTTP server on loopback serving ``routes`` (path -> bytes) to GETs and
    ``responders`` (path -> a function of the request body) to POSTs, as an OCSP
    responder answers; ``hits`` lists the paths asked for, in order. Unknown paths
    answer 404."""

    def __init__(self) -> None:
        self.routes: dict[str, bytes] = {}
        self.responders: dict[str, Callable[[bytes], bytes]] = {}
        self.hits: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits.append(self.path)
                self._answer(server.routes.get(self.path))

            def do_POST(self) -> None:
                server.hits.append(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                responder = server.responders.get(self.path)
                self._answer(responder(body) if responder else None)

            def _answer(self, body: bytes | None) -> None:
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def silent_port() -> Iterator[str]:
    """A URL on a port that accepts connections (the kernel's backlog) and never
    answers: a fetch from it can only time out."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/crl/silent.crl"
    finally:
        sock.close()


def closed_port_url(path: str = "/crl/gone.crl") -> str:
    """A URL on a loopback port nothing listens on: connection refused at once."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}{path}"


def sha1_resigned(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """``cert`` signed again by ``key`` with sha1WithRSAEncryption (the G1 generation's
    algorithm), its contents otherwise unchanged."""
    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    tbs["signature"] = asn1_x509.SignedDigestAlgorithm({"algorithm": "sha1_rsa"})
    value = key.sign(tbs.dump(force=True), padding.PKCS1v15(), hashes.SHA1())
    new = asn1_x509.Certificate({"tbs_certificate": tbs,
                                 "signature_algorithm": {"algorithm": "sha1_rsa"},
                                 "signature_value": value})
    return x509.load_der_x509_certificate(new.dump())


@dataclass
class GovPki:
    """A root and an issuing CA in the real PKI's shape, publishing on ``web``."""

    __test__ = False

    web: CaWebServer
    root: Issued
    issuing: Issued
    slug: str
    now: dt.datetime
    revoked: dict[int, dt.datetime] = field(default_factory=dict)
    #: revoked as the OCSP responder answers (not on the CRL unless ``revoke``d too)
    ocsp_revoked: dict[int, dt.datetime] = field(default_factory=dict)
    crl_number: int = 1
    _serial: int = 0x5000
    _issued: dict[int, x509.Certificate] = field(default_factory=dict)

    @classmethod
    def create(cls, web: CaWebServer, *, slug: str = "g2", root_name: x509.Name | None = None,
               issuing_name: x509.Name | None = None, is_sha1: bool = False,
               is_published: bool = True, ca_bits: int = 2048) -> GovPki:
        """Make the CAs (RSA keys of ``ca_bits``) and (unless ``is_published`` is False)
        publish the root's certificate and both CRLs at ``/crt/root<slug>.crt``,
        ``/crl/...``."""
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        if ca_bits == 2048:
            root_key, issuing_key = POOL.rsa2048(), POOL.rsa2048()
        else:
            root_key, issuing_key = (rsa.generate_private_key(public_exponent=65537,
                                                              key_size=ca_bits)
                                     for _ in range(2))
        root_name = root_name or gov_name(f"RootCA look-alike {slug.upper()}")
        issuing_name = issuing_name or gov_name(f"CA look-alike cơ quan Nhà nước {slug.upper()}")
        root_cert = _ca(root_name, root_key, root_name, root_key, now, None, web, slug, None)
        issuing_cert = _ca(issuing_name, issuing_key, root_name, root_key, now, 0, web, slug,
                           f"/crt/root{slug}.crt")
        if is_sha1:
            root_cert = sha1_resigned(root_cert, root_key)
            issuing_cert = sha1_resigned(issuing_cert, root_key)
        pki = cls(web, Issued(root_cert, root_key), Issued(issuing_cert, issuing_key,
                                                           (root_cert,)), slug, now)
        if is_published:
            pki.publish()
        return pki

    @property
    def issuing_crl_path(self) -> str:
        return f"/crl/cp{self.slug}.crl"

    @property
    def ocsp_path(self) -> str:
        return f"/ocsp/{self.slug}"

    def answer(self, request_der: bytes, *, responder: Issued | None = None) -> bytes:
        """The issuing CA's OCSP answer to a request (RFC 6960), valid for a day, signed
        by the issuing CA, or by ``responder`` (a forger's CA, its certificate sent
        along as a delegated responder's would be)."""
        request = ocsp.load_der_ocsp_request(request_der)
        serial = request.serial_number
        when = self.ocsp_revoked.get(serial)
        status = ocsp.OCSPCertStatus.REVOKED if when else ocsp.OCSPCertStatus.GOOD
        # the CertID needs the certificate: a stand-in with the serial asked about
        subject = self._issued.get(serial)
        if subject is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
        signer = responder or self.issuing
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response(cert=subject, issuer=self.issuing.cert, algorithm=hashes.SHA1(),
                          cert_status=status, this_update=self.now - dt.timedelta(minutes=5),
                          next_update=self.now + dt.timedelta(days=1), revocation_time=when,
                          revocation_reason=None)
            .responder_id(ocsp.OCSPResponderEncoding.HASH, signer.cert)
        )
        if responder is not None:
            builder = builder.certificates([responder.cert])
        return builder.sign(signer.key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def issue(self, address: str, *, common_name: str | None = None,
              organisation: str = "Ủy ban nhân dân tỉnh Lào Cai",
              crl_url: str | None = None, ca_issuers_url: str | None = None,
              ocsp_url: str | None = None) -> Issued:
        """A signer certificate (leaf only: its chain is empty, as in the CMS of real
        documents) with the real signers' extensions and this CA's URLs."""
        self._serial += 1
        key = POOL.rsa2048()
        subject = x509.Name([
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name or address),
            x509.NameAttribute(NameOID.EMAIL_ADDRESS, address),
        ])
        crl_url = crl_url or self.web.url(self.issuing_crl_path)
        ca_issuers_url = ca_issuers_url or self.web.url(f"/crt/cp{self.slug}.crt")
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.issuing.cert.subject)
            .public_key(key.public_key()).serial_number(self._serial)
            .not_valid_before(self.now - dt.timedelta(days=1))
            .not_valid_after(self.now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=True,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(list(SIGNER_EKU)), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(address)]),
                           critical=False)
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(GOV_POLICY, None)]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.issuing.key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(_aia(ca_issuers_url, ocsp_url), critical=False)
            .add_extension(_crl_dp(crl_url), critical=False)
            .sign(self.issuing.key, hashes.SHA256())
        )
        self._issued[cert.serial_number] = cert
        if ocsp_url is not None:
            self.web.responders[self.ocsp_path] = self.answer
        return Issued(cert, key, ())

    def revoke(self, issued: Issued, at: dt.datetime | None = None) -> None:
        """Put ``issued`` on the issuing CA's CRL (published again, number + 1)."""
        self.revoked[issued.cert.serial_number] = at or self.now - dt.timedelta(hours=1)
        self.crl_number += 1
        self.publish()

    def crl(self, issuer: Issued | None = None, *, next_update: dt.timedelta = dt.timedelta(
            days=1), key: rsa.RSAPrivateKey | None = None) -> x509.CertificateRevocationList:
        """The CRL of ``issuer`` (default the issuing CA), signed by ``key`` (default its own)."""
        issuer = issuer or self.issuing
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer.cert.subject)
            .last_update(self.now - dt.timedelta(hours=2))
            .next_update(self.now + next_update)
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
        )
        if issuer is self.issuing:
            for serial, when in self.revoked.items():
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(serial)
                    .revocation_date(when).build())
        return builder.sign(key or issuer.key, hashes.SHA256())

    def publish(self) -> None:
        """Serve the root certificate, the issuing CA's certificate and both CRLs."""
        der = serialization.Encoding.DER
        self.web.routes[f"/crt/root{self.slug}.crt"] = self.root.cert.public_bytes(der)
        self.web.routes[f"/crt/cp{self.slug}.crt"] = self.issuing.cert.public_bytes(der)
        self.web.routes[self.issuing_crl_path] = self.crl().public_bytes(der)
        self.web.routes[f"/crl/root{self.slug}.crl"] = self.crl(self.root).public_bytes(der)


def _aia(ca_issuers_url: str, ocsp_url: str | None = None
         ) -> x509.AuthorityInformationAccess:
    found = [x509.AccessDescription(AuthorityInformationAccessOID.CA_ISSUERS,
                                    x509.UniformResourceIdentifier(ca_issuers_url))]
    if ocsp_url is not None:
        found.append(x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                            x509.UniformResourceIdentifier(ocsp_url)))
    return x509.AuthorityInformationAccess(found)


def _crl_dp(url: str) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints([x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)], relative_name=None, reasons=None,
        crl_issuer=None)])


def _ca(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name,
        issuer_key: rsa.RSAPrivateKey, now: dt.datetime, path_length: int | None,
        web: CaWebServer, slug: str, ca_issuers: str | None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=30))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), critical=False)
    )
    if ca_issuers is not None:  # the issuing CA, in the real G2 issuing CA's shape
        builder = (
            builder
            .add_extension(x509.CertificatePolicies([x509.PolicyInformation(GOV_POLICY, None)]),
                           critical=False)
            .add_extension(_aia(web.url(ca_issuers)), critical=False)
            .add_extension(_crl_dp(web.url(f"/crl/root{slug}.crl")), critical=False)
        )
    return builder.sign(issuer_key, hashes.SHA256())
