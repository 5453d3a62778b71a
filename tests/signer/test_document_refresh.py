"""`congvu document trust refresh`: what verifications rest on, fetched again ahead of need.

The look-alike government PKI (support/govpki.py) publishes its CRLs and answers OCSP
on a CA web server on loopback; a verification fills the evidence store, and the
refresh reads the store's cache index to fetch again what is due.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization

from signer.cli.document import document_group
from signer.config import SignerConfig
from signer.documents import DocumentVerdict, DocumentVerifier
from signer.evidence import EvidenceStore
from signer.fetch import Fetcher
from signer.presets import TrustPreset, missing_members
from signer.refresh import RefreshEvent, refresh
from signer.trust import TrustStore
from support.documents import plain_pdf, sign_pdf
from support.govpki import CaWebServer, GovPki
from support.pki import Issued

DER = serialization.Encoding.DER
HOUR = dt.timedelta(hours=1)


def verifier(gov: GovPki, store: Path, *, is_fetching: bool = True) -> DocumentVerifier:
    trust = TrustStore([gov.root.cert], [gov.issuing.cert], is_crl_required=True,
                       fetcher=Fetcher(is_enabled=is_fetching), store=EvidenceStore(store))
    return DocumentVerifier(trust)


def _load(path: Path | None) -> SignerConfig:
    assert path is not None
    return SignerConfig.model_validate(tomllib.loads(path.read_text())["signer"])


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "congvu.toml"
    path.write_text(f'[signer.documents]\nstore_dir = "{tmp_path / "store"}"\n{extra}')
    return path


def _short_crl(gov: GovPki, ca_web: CaWebServer, path: str) -> None:
    """Serve the issuing CA's CRL at ``path`` with an hour to its nextUpdate: past half
    of its validity (thisUpdate is two hours back), so a refresh finds it due."""
    ca_web.routes[path] = gov.crl(next_update=HOUR).public_bytes(DER)


def _verified(gov: GovPki, ca_web: CaWebServer, store: Path, name: str,
              **urls: str) -> tuple[Issued, bytes]:
    person = gov.issue(f"{name}@laocai.gov.vn", **urls)
    data = sign_pdf(plain_pdf(), person)
    sig = verifier(gov, store).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    return person, data


def _run(store: Path, **kw: object) -> list[RefreshEvent]:
    return list(refresh(EvidenceStore(store), Fetcher(), (), **kw))  # type: ignore[arg-type]


def _no_temporaries(store: Path) -> bool:
    return not [p for p in store.rglob("*") if p.name.startswith(".")]


def test_a_due_crl_is_fetched_again_and_the_next_verification_uses_it(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    path = "/crl/refresh-cli.crl"
    _short_crl(gov, ca_web, path)
    store = tmp_path / "store"
    person, data = _verified(gov, ca_web, store, "rf1", crl_url=ca_web.url(path))
    # the CA publishes its next CRL, which lists the signer
    gov.revoked[person.cert.serial_number] = gov.now - HOUR
    gov.crl_number += 1
    _short_crl(gov, ca_web, path)

    result = CliRunner().invoke(document_group(_load), [
        "trust", "refresh", "--config", str(_config(tmp_path))])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    (crl,) = [e for e in events if e["event"] == "crl refreshed"]
    assert crl["url"] == ca_web.url(path) and crl["number"] == str(gov.crl_number)
    assert crl["sha256"] == hashlib.sha256(ca_web.routes[path]).hexdigest()
    assert events[-1]["event"] == "refresh done" and events[-1]["failed"] == 0
    assert all(e["level"] == "info" for e in events)
    assert _no_temporaries(store)
    # offline, the next verification rests on the refreshed CRL
    sig = verifier(gov, store, is_fetching=False).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.REVOKED, sig.reason
    assert sig.revocation is not None and sig.revocation.crl is not None
    assert sig.revocation.crl.number == gov.crl_number


def test_what_is_not_due_is_not_fetched(gov: GovPki, ca_web: CaWebServer,
                                        tmp_path: Path) -> None:
    path = "/crl/refresh-fresh.crl"
    ca_web.routes[path] = gov.crl().public_bytes(DER)  # a day ahead: not half gone
    _verified(gov, ca_web, tmp_path, "rf2", crl_url=ca_web.url(path))
    before = ca_web.hits.count(path)
    (done,) = _run(tmp_path)
    # the signer's CRL, and the root's that the issuing CA was checked on
    assert done.fields["fresh"] == 2 and done.fields["refreshed"] == 0
    assert ca_web.hits.count(path) == before
    # twelve hours on, past half of their day, they are
    events = _run(tmp_path, now=gov.now + 12 * HOUR)
    assert sorted((e.event, e.fields.get("url")) for e in events[:-1]) == [
        ("crl unchanged", ca_web.url(path)), ("crl unchanged", ca_web.url("/crl/rootg2.crl"))]
    assert ca_web.hits.count(path) == before + 1


def test_an_older_crl_does_not_replace_the_one_kept(gov: GovPki, ca_web: CaWebServer,
                                                    tmp_path: Path) -> None:
    path = "/crl/refresh-replay.crl"
    gov.crl_number += 1
    _short_crl(gov, ca_web, path)
    kept = hashlib.sha256(ca_web.routes[path]).hexdigest()
    _verified(gov, ca_web, tmp_path, "rf3", crl_url=ca_web.url(path))
    # someone on the path answers with the CA's previous CRL, still current
    gov.crl_number -= 1
    _short_crl(gov, ca_web, path)
    gov.crl_number += 1
    refused, done = _run(tmp_path)
    assert refused.event == "crl not refreshed" and refused.is_failure
    assert "is older than the CRL kept" in str(refused.fields["reason"])
    assert done.is_failure and done.fields["failed"] == 1
    entry = EvidenceStore(tmp_path).entry(ca_web.url(path))
    assert entry is not None and entry.digest == kept


def test_an_unreachable_or_forged_crl_leaves_the_one_kept(gov: GovPki, ca_web: CaWebServer,
                                                          tmp_path: Path) -> None:
    path = "/crl/refresh-gone.crl"
    _short_crl(gov, ca_web, path)
    kept = hashlib.sha256(ca_web.routes[path]).hexdigest()
    _verified(gov, ca_web, tmp_path, "rf4", crl_url=ca_web.url(path))
    forger = GovPki.create(ca_web, slug="refreshforger", is_published=False)
    ca_web.routes[path] = gov.crl(next_update=HOUR, key=forger.issuing.key).public_bytes(DER)
    forged, _ = _run(tmp_path)
    assert forged.event == "crl not refreshed"
    assert "is not signed by" in str(forged.fields["reason"])
    del ca_web.routes[path]
    gone, _ = _run(tmp_path)
    assert gone.fields["reason"] == "the server answered HTTP 404"
    entry = EvidenceStore(tmp_path).entry(ca_web.url(path))
    assert entry is not None and entry.digest == kept
    assert _no_temporaries(tmp_path)


def test_entries_no_verification_used_for_30_days_are_let_lapse(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    path = "/crl/refresh-idle.crl"
    _short_crl(gov, ca_web, path)
    _verified(gov, ca_web, tmp_path, "rf5", crl_url=ca_web.url(path))
    index = tmp_path / "cache" / hashlib.sha256(ca_web.url(path).encode()).hexdigest()
    old = (gov.now - dt.timedelta(days=31)).timestamp()
    os.utime(index, (old, old))
    before = ca_web.hits.count(path)
    (done,) = _run(tmp_path)
    assert done.fields["idle"] == 1 and ca_web.hits.count(path) == before
    # a verification that uses the kept CRL makes it wanted again
    _verified(gov, ca_web, tmp_path, "rf5b", crl_url=ca_web.url(path))
    assert ca_web.hits.count(path) == before  # used from the store, not fetched
    events = _run(tmp_path)
    assert [e.event for e in events] == ["crl unchanged", "refresh done"]
    # and the refresh itself is not a use: the date stays the verification's
    assert EvidenceStore(tmp_path).entry(ca_web.url(path)).used_at < gov.now + HOUR  # type: ignore[union-attr]
    assert dt.datetime.now(dt.UTC) - EvidenceStore(tmp_path).entry(  # type: ignore[union-attr]
        ca_web.url(path)).used_at < dt.timedelta(minutes=10)


def test_an_ocsp_answer_is_asked_again_and_a_forged_one_refused(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    person, data = _verified(gov, ca_web, tmp_path, "rf6",
                             ocsp_url=ca_web.url(gov.ocsp_path))
    later = gov.now + 13 * HOUR  # past half of the answer's day
    gov.ocsp_revoked[person.cert.serial_number] = gov.now - HOUR
    forger = GovPki.create(ca_web, slug="refreshocspforger",
                           issuing_name=gov.issuing.cert.subject, is_published=False)
    honest = ca_web.responders[gov.ocsp_path]
    ca_web.responders[gov.ocsp_path] = lambda body: gov.answer(body, responder=forger.issuing)
    (forged,) = [e for e in _run(tmp_path, now=later) if e.event.startswith("ocsp")]
    assert forged.event == "ocsp answer not refreshed" and forged.is_failure
    assert "is not signed by" in str(forged.fields["reason"])
    ca_web.responders[gov.ocsp_path] = honest
    events = _run(tmp_path, now=later)
    (answered,) = [e for e in events if e.event.startswith("ocsp")]
    assert answered.event == "ocsp answer refreshed", answered.fields
    assert answered.fields["status"] == "revoked"
    assert answered.fields["serial"] == f"{person.cert.serial_number:x}"
    assert not events[-1].is_failure
    sig = verifier(gov, tmp_path, is_fetching=False).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.REVOKED, sig.reason
    assert sig.revocation is not None and sig.revocation.ocsp is not None
    assert sig.revocation.ocsp.sha256 == answered.fields["sha256"]


def test_an_earlier_releases_entry_is_still_read_and_not_refreshed(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    path = "/crl/refresh-old-entry.crl"
    _short_crl(gov, ca_web, path)
    _, data = _verified(gov, ca_web, tmp_path, "rf7", crl_url=ca_web.url(path))
    index = tmp_path / "cache" / hashlib.sha256(ca_web.url(path).encode()).hexdigest()
    entry = json.loads(index.read_text())
    index.write_text(entry["evidence"] + "\n")  # as an earlier release wrote it
    sig = verifier(gov, tmp_path, is_fetching=False).verify(data).signatures[0]
    assert sig.verdict is DocumentVerdict.VALID, sig.reason
    before = ca_web.hits.count(path)
    (done,) = _run(tmp_path)
    assert ca_web.hits.count(path) == before and not done.is_failure


def test_missing_preset_members_come_only_with_their_pin(ca_web: CaWebServer,
                                                         tmp_path: Path) -> None:
    for member in missing_members((TrustPreset.VGCA,), tmp_path):
        ca_web.routes["/mirror" + member.path] = b"not the CA"
    events = list(refresh(EvidenceStore(tmp_path), Fetcher(), (TrustPreset.VGCA,),
                          base_url=ca_web.url("/mirror")))
    failed = [e for e in events if e.event == "preset member not fetched"]
    assert len(failed) == 3 and all(e.is_failure for e in failed)
    assert "holds no readable certificate" in str(failed[0].fields["reason"])
    assert len(missing_members((TrustPreset.VGCA,), tmp_path)) == 3
    assert not (tmp_path / "trust").exists()


def test_with_fetching_off_the_command_does_nothing_and_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(document_group(_load), [
        "trust", "refresh", "--config", str(_config(tmp_path, "is_fetching = false\n"))])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["event"] == "refresh skipped" and "is_fetching" in line["reason"]


def test_an_issuer_certificate_used_from_the_store_stays_wanted(
        gov: GovPki, ca_web: CaWebServer, tmp_path: Path) -> None:
    url = ca_web.url(f"/crt/cp{gov.slug}.crt")
    data = sign_pdf(plain_pdf(), gov.issue("rf8@laocai.gov.vn"))

    def leaf_only() -> DocumentVerdict:
        trust = TrustStore([gov.root.cert], is_crl_required=True, fetcher=Fetcher(),
                           store=EvidenceStore(tmp_path))
        return DocumentVerifier(trust).verify(data).signatures[0].verdict

    assert leaf_only() is DocumentVerdict.VALID  # the issuing CA from caIssuers
    index = tmp_path / "cache" / hashlib.sha256(url.encode()).hexdigest()
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=31)).timestamp()
    os.utime(index, (old, old))
    before = ca_web.hits.count(f"/crt/cp{gov.slug}.crt")
    assert leaf_only() is DocumentVerdict.VALID
    assert ca_web.hits.count(f"/crt/cp{gov.slug}.crt") == before  # from the store
    entry = EvidenceStore(tmp_path).entry(url)
    assert entry is not None and entry.kind == "crt" and entry.used_at is not None
    assert dt.datetime.now(dt.UTC) - entry.used_at < dt.timedelta(minutes=10)


def test_the_timers_command_through_the_root(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """What the congvu-trust-refresh unit runs: the store under the data directory."""
    from congvu.cli import main

    monkeypatch.setenv("CONGVU_VAR", str(tmp_path / "var"))
    config = tmp_path / "congvu.toml"
    config.write_text("[signer.documents]\nis_enabled = true\n")
    result = CliRunner().invoke(main, ["document", "trust", "refresh", "--config", str(config)])
    assert result.exit_code == 0, result.output
    (done,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert done["event"] == "refresh done" and done["failed"] == 0
    config.write_text("[signer.documents\n")
    broken = CliRunner().invoke(main, ["document", "trust", "refresh", "--config", str(config)])
    assert broken.exit_code == 2 and "not valid TOML" in broken.output
