"""Revocation of document signers from CRLs fetched from a CA web server on loopback.

The PKI is the look-alike of the government's (support/govpki.py): signatures carry
only the signer's certificate, the CRLs are published at the URLs the certificates
name, and the server counts what was fetched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from signer.cli.document import document_group
from signer.config import SignerConfig
from signer.documents import DocumentsConfig, DocumentVerdict, DocumentVerifier
from signer.errors import FetchError
from signer.evidence import EvidenceStore
from signer.fetch import MAX_CERTIFICATE, Fetcher
from signer.revocation import RevocationPolicy
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf, timestamper
from support.govpki import CaWebServer, GovPki, closed_port_url, silent_port
from support.pki import Issued, TestPki

PEM = serialization.Encoding.PEM


def verifier(gov: GovPki, store: Path, *, is_required: bool = True, is_fetching: bool = True,
             timeout: float | None = None) -> DocumentVerifier:
    """Trust: the look-alike root as anchor, its issuing CA configured as intermediate."""
    trust = TrustStore([gov.root.cert], [gov.issuing.cert], is_crl_required=is_required,
                       fetcher=Fetcher(is_enabled=is_fetching), store=EvidenceStore(store))
    return DocumentVerifier(trust, timeout=timeout)


def signed(person: Issued) -> bytes:
    return sign_pdf(plain_pdf(), person)


def test_a_leaf_only_signature_is_valid_with_the_crl_fetched_and_kept(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    person = gov.issue("cb1@laocai.gov.vn", common_name="Nguyễn Văn A")
    result = verifier(gov, tmp_path).verify(signed(person))
    sig = result.signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.revocation is not None
    out = sig.as_json()["revocation"]
    served = ca_web.routes[gov.issuing_crl_path]
    assert out == {
        "status": "good", "method": "crl", "checked_at": out["checked_at"],  # type: ignore[index]
        "crl": {"issuer": gov.issuing.cert.subject.rfc4514_string(), "number": "1",
                "this_update": (gov.now - dt.timedelta(hours=2)).isoformat(),
                "sha256": hashlib.sha256(served).hexdigest()},
        "ocsp": None, "is_required": True}
    assert dt.datetime.fromisoformat(out["checked_at"])
    # the evidence used is kept once, under its SHA-256
    kept = tmp_path / "evidence" / f"{hashlib.sha256(served).hexdigest()}.crl"
    assert kept.read_bytes() == served
    # the issuing CA is checked on the root's CRL, from its own distribution point
    assert f"/crl/root{gov.slug}.crl" in ca_web.hits


def test_a_cached_crl_is_used_until_its_next_update_without_fetching(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    person = gov.issue("cb2@laocai.gov.vn")
    data = signed(person)
    assert verifier(gov, tmp_path).verify(data).signatures[0].verdict is DocumentVerdict.VALID
    before = len(ca_web.hits)
    # another verifier (another process) on the same store, fetching off: the cache serves
    again = verifier(gov, tmp_path, is_fetching=False).verify(data).signatures[0]
    assert again.verdict is DocumentVerdict.VALID, again.reason
    assert again.revocation is not None and again.revocation.crl is not None
    assert len(ca_web.hits) == before


def test_a_signer_on_the_fetched_crl_is_revoked(gov: GovPki, tmp_path: Path) -> None:
    person = gov.issue("cb3@laocai.gov.vn")
    gov.revoke(person)
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.REVOKED
    assert "was revoked on" in sig.reason
    assert sig.revocation is not None and sig.revocation.status.value == "revoked"
    assert sig.as_json()["revocation"]["crl"]["number"] == str(gov.crl_number)  # type: ignore[index]


def test_an_unreachable_crl_when_required_is_unverifiable_naming_the_url(
        gov: GovPki, tmp_path: Path) -> None:
    url = closed_port_url()
    person = gov.issue("cb4@laocai.gov.vn", crl_url=url)
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert f"the CRL at {url}: not reached" in sig.reason
    assert sig.as_json()["revocation"] == {
        "status": "unknown", "method": "none", "checked_at": sig.as_json()[
            "revocation"]["checked_at"], "crl": None, "ocsp": None,  # type: ignore[index]
        "is_required": True}


def test_an_unreachable_crl_when_optional_is_valid_with_a_note(
        gov: GovPki, tmp_path: Path) -> None:
    url = closed_port_url()
    person = gov.issue("cb5@laocai.gov.vn", crl_url=url)
    sig = verifier(gov, tmp_path, is_required=False).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID
    assert any(url in note and "unknown" in note for note in sig.notes), sig.notes
    assert sig.revocation is not None and sig.revocation.status.value == "unknown"
    assert sig.revocation.is_required is False


def test_nothing_is_fetched_offline(gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    person = gov.issue("cb6@laocai.gov.vn")
    before = len(ca_web.hits)
    sig = verifier(gov, tmp_path, is_fetching=False).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert "fetching is off" in sig.reason
    assert len(ca_web.hits) == before


def test_a_crl_server_that_never_answers_is_cut_at_the_verification_deadline(
        gov: GovPki, tmp_path: Path) -> None:
    with silent_port() as url:
        person = gov.issue("cb7@laocai.gov.vn", crl_url=url)
        sig = verifier(gov, tmp_path, timeout=0.5).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert url in sig.reason and ("no answer within" in sig.reason
                                  or "timed out" in sig.reason), sig.reason


def test_a_crl_signed_by_another_key_is_not_used(gov: GovPki, ca_web: CaWebServer,
                                                 tmp_path: Path) -> None:
    forger = GovPki.create(ca_web, slug="forger", is_published=False)
    path = "/crl/forged.crl"
    ca_web.routes[path] = gov.crl(key=forger.issuing.key).public_bytes(  # type: ignore[arg-type]
        serialization.Encoding.DER)
    person = gov.issue("cb8@laocai.gov.vn", crl_url=ca_web.url(path))
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert "is not signed by" in sig.reason


def test_an_out_of_date_crl_is_not_used(gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    path = "/crl/stale.crl"
    ca_web.routes[path] = gov.crl(next_update=-dt.timedelta(hours=1)).public_bytes(
        serialization.Encoding.DER)
    person = gov.issue("cb9@laocai.gov.vn", crl_url=ca_web.url(path))
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert "out of date" in sig.reason


def test_a_fetch_larger_than_its_limit_is_refused(ca_web: CaWebServer) -> None:
    ca_web.routes["/crt/huge.crt"] = b"0" * (MAX_CERTIFICATE + 1)
    with pytest.raises(FetchError, match="larger than the 1 MiB accepted"):
        Fetcher().get(ca_web.url("/crt/huge.crt"), max_bytes=MAX_CERTIFICATE)
    with pytest.raises(FetchError, match="only http and https"):
        Fetcher().get("ldap://ca.gov.vn/cn=crl", max_bytes=10)
    with pytest.raises(FetchError, match="HTTP 404"):
        Fetcher().get(ca_web.url("/nothing"), max_bytes=10)


def test_the_renamed_key_is_still_read_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="congvu.signer"):
        old = DocumentsConfig.model_validate({"is_crl_required": False})
    assert old.revocation is RevocationPolicy.OPTIONAL
    assert "signer.documents.revocation" in caplog.text
    assert DocumentsConfig.model_validate(
        {"is_crl_required": True}).revocation is RevocationPolicy.REQUIRED
    assert DocumentsConfig().revocation is RevocationPolicy.REQUIRED
    assert old.renamed_keys and "revocation" in old.renamed_keys[0]


def test_the_command_prints_the_new_fields(gov: GovPki, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "root.pem").write_bytes(gov.root.cert.public_bytes(PEM))
    (tmp_path / "cp.pem").write_bytes(gov.issuing.cert.public_bytes(PEM))
    (tmp_path / "signed.pdf").write_bytes(signed(gov.issue("cb10@laocai.gov.vn")))
    config = tmp_path / "congvu.toml"
    config.write_text('[signer.documents]\nis_crl_required = true\n'
                      f'store_dir = "{tmp_path / "store"}"\n')

    def load(path: Path | None) -> SignerConfig:
        import tomllib
        return SignerConfig.model_validate(tomllib.loads(Path(str(path)).read_text())["signer"])

    result = CliRunner().invoke(document_group(load), [
        "verify", "--config", str(config), "--ca", str(tmp_path / "root.pem"),
        "--intermediate", str(tmp_path / "cp.pem"), str(tmp_path / "signed.pdf")])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["complete"] is False
    sig = line["signatures"][0]
    assert (sig["role"], sig["unit"]) == ("unknown", None)
    assert set(sig["revocation"]) == {"status", "method", "checked_at", "crl", "ocsp",
                                      "is_required"}
    assert sig["revocation"]["status"] == "good"
    assert "is_crl_required is replaced by revocation" in result.stderr
    assert list((tmp_path / "store" / "evidence").iterdir())
    offline = CliRunner().invoke(document_group(load), [
        "verify", "--config", str(config), "--ca", str(tmp_path / "root.pem"), "--offline",
        str(tmp_path / "signed.pdf")])
    # offline, the issuing CA is not fetched from caIssuers: not even a path
    assert json.loads(offline.stdout.splitlines()[0])["verdict"] == "untrusted"


def test_a_signer_revoked_by_ocsp_only_is_revoked(gov: GovPki, ca_web: CaWebServer,
                                                  tmp_path: Path) -> None:
    person = gov.issue("cb11@laocai.gov.vn", ocsp_url=ca_web.url(gov.ocsp_path))
    gov.ocsp_revoked[person.cert.serial_number] = gov.now - dt.timedelta(hours=3)
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.REVOKED, sig.reason
    assert "OCSP" in sig.reason
    out = sig.as_json()["revocation"]
    assert (out["status"], out["method"], out["crl"]) == ("revoked", "ocsp", None)  # type: ignore[index]
    kept = tmp_path / "evidence" / f"{out['ocsp']['sha256']}.ocsp"  # type: ignore[index]
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == out["ocsp"]["sha256"]  # type: ignore[index]
    assert dt.datetime.fromisoformat(out["ocsp"]["produced_at"])  # type: ignore[index]


def test_a_good_ocsp_answer_is_used_and_cached(gov: GovPki, ca_web: CaWebServer,
                                               tmp_path: Path) -> None:
    person = gov.issue("cb12@laocai.gov.vn", ocsp_url=ca_web.url(gov.ocsp_path))
    data = signed(person)
    sig = verifier(gov, tmp_path).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.revocation is not None and sig.revocation.method.value == "ocsp"
    before = len(ca_web.hits)
    again = verifier(gov, tmp_path, is_fetching=False).verify(data).signatures[0]
    assert again.verdict is DocumentVerdict.VALID, again.reason
    assert again.revocation is not None and again.revocation.method.value == "ocsp"
    assert len(ca_web.hits) == before


def test_an_internal_ocsp_host_is_rewritten(gov: GovPki, ca_web: CaWebServer,
                                            tmp_path: Path) -> None:
    person = gov.issue("cb13@laocai.gov.vn", ocsp_url="http://ocsp.ca.ptc/")
    trust = TrustStore([gov.root.cert], [gov.issuing.cert], is_crl_required=True,
                       fetcher=Fetcher(), store=EvidenceStore(tmp_path),
                       ocsp_rewrite={"http://ocsp.ca.ptc/": ca_web.url(gov.ocsp_path)})
    sig = DocumentVerifier(trust).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.revocation is not None and sig.revocation.method.value == "ocsp"


def test_a_forged_ocsp_answer_is_not_used(gov: GovPki, ca_web: CaWebServer,
                                          tmp_path: Path) -> None:
    # a CA of the forger's own, named as the issuing CA, signs the answer
    forger = GovPki.create(ca_web, slug="ocspforger", issuing_name=gov.issuing.cert.subject,
                           is_published=False)
    ca_web.responders["/ocsp/forged"] = lambda body: gov.answer(body, responder=forger.issuing)
    person = gov.issue("cb14@laocai.gov.vn", ocsp_url=ca_web.url("/ocsp/forged"))
    gov.ocsp_revoked[person.cert.serial_number] = gov.now  # the forged answer: revoked
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    # the forged "revoked" is not believed either way; the CRL decides
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.revocation is not None and sig.revocation.method.value == "crl"
    # and with no CRL to fall back on, the forgery is what is named
    alone = gov.issue("cb14b@laocai.gov.vn", ocsp_url=ca_web.url("/ocsp/forged"),
                      crl_url=closed_port_url())
    sig = verifier(gov, tmp_path).verify(signed(alone)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert (f"the OCSP responder at {ca_web.url('/ocsp/forged')}: answer is not signed by "
            f"{gov.issuing.cert.subject.rfc4514_string()}") in sig.reason


def test_nothing_reachable_names_every_url_tried(gov: GovPki, tmp_path: Path) -> None:
    ocsp_url, crl_url = closed_port_url("/ocsp"), closed_port_url()
    person = gov.issue("cb15@laocai.gov.vn", ocsp_url=ocsp_url, crl_url=crl_url)
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert f"the OCSP responder at {ocsp_url}" in sig.reason
    assert f"the CRL at {crl_url}" in sig.reason


def test_revoked_after_a_trusted_timestamp_is_valid_with_a_note(
        gov: GovPki, tmp_path: Path) -> None:
    tsa = TestPki.create().issue(common_name="Look-alike TSA", issuer=gov.issuing,
                                 eku=(ExtendedKeyUsageOID.TIME_STAMPING,))
    person = gov.issue("cb16@laocai.gov.vn")
    stamped = gov.now - dt.timedelta(hours=5)
    data = sign_pdf(plain_pdf(), person, tsa=timestamper(tsa, at=stamped))
    gov.revoke(person, at=gov.now - dt.timedelta(hours=1))
    # the TSA's own certificate names no CRL: revocation optional for this test
    sig = verifier(gov, tmp_path, is_required=False).verify(data).signatures[0]
    assert sig.time_source.value == "timestamp", sig.notes
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert any("was revoked on" in n and "after the timestamped signing time" in n
               for n in sig.notes), sig.notes
    assert sig.revocation is not None and sig.revocation.status.value == "revoked"
    # revoked before the timestamp: revoked
    early = gov.issue("cb17@laocai.gov.vn")
    data = sign_pdf(plain_pdf(), early, tsa=timestamper(tsa, at=stamped))
    gov.revoke(early, at=stamped - dt.timedelta(hours=1))
    sig = verifier(gov, tmp_path / "2", is_required=False).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.REVOKED, sig.reason


@pytest.mark.parametrize(("body", "said"), [
    (b"<html>maintenance</html>", "is not a readable CRL"),
    (b"", "is not a readable CRL"),
])
def test_a_crl_url_serving_no_crl_is_named(gov: GovPki, ca_web: CaWebServer, tmp_path: Path,
                                           body: bytes, said: str) -> None:
    path = f"/crl/broken-{len(body)}.crl"
    ca_web.routes[path] = body
    person = gov.issue(f"cb18-{len(body)}@laocai.gov.vn", crl_url=ca_web.url(path))
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert f"the CRL at {ca_web.url(path)}: {said}" in sig.reason


def test_an_ocsp_responder_answering_garbage_falls_back_to_the_crl(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    ca_web.responders["/ocsp/garbage"] = lambda body: b"\x30\x03\x0a\x01\x00"
    person = gov.issue("cb19@laocai.gov.vn", ocsp_url=ca_web.url("/ocsp/garbage"))
    sig = verifier(gov, tmp_path).verify(signed(person)).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    assert sig.revocation is not None and sig.revocation.method.value == "crl"
    # and with no CRL to fall back on, the OCSP problem is named
    broken = gov.issue("cb19b@laocai.gov.vn", ocsp_url=ca_web.url("/ocsp/garbage"),
                       crl_url=closed_port_url())
    sig = verifier(gov, tmp_path).verify(signed(broken)).signatures[0]
    assert sig.verdict is DocumentVerdict.UNVERIFIABLE
    assert f"the OCSP responder at {ca_web.url('/ocsp/garbage')}: is not a readable OCSP" \
        in sig.reason
