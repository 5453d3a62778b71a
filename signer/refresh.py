"""Fetch again, ahead of need, what document verifications rest on (``trust refresh``).

The documents stage fetches a CRL, an OCSP answer or an issuer certificate when
nothing fresh is cached, within the message's ``timeout``. Run from a timer, `refresh`
keeps the cache fresh so that the stage rarely waits: for each entry of the evidence
store's cache index (`signer.evidence`) that a verification used within ``idle``, it
fetches again what is due, and it fetches the trust presets' members not yet
installed.

What is due: a CRL or OCSP answer past half of its validity (thisUpdate to
nextUpdate; an answer without nextUpdate counts an hour, a CRL a day), or one no
longer readable; an issuer certificate fetched more than half of its 7 days ago.

What is fetched replaces what is kept only when it holds up as a verification would
take it: a CRL signed by the issuer and current, an OCSP answer signed by the issuer
(or its delegated responder) about the same certificate, a readable certificate.
Over plain HTTP anyone on the path can answer, so a CRL or OCSP answer older than the
one kept (an earlier thisUpdate or CRL number, an earlier producedAt) is refused: a
replayed CRL from before a revocation must not replace the one that lists it. What
is refused or not reached leaves the entry as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509 import ocsp

from signer.errors import CertificateFileError, FetchError, SignerError
from signer.evidence import CERTIFICATE_CACHE, CacheEntry, EvidenceStore
from signer.fetch import MAX_CERTIFICATE, MAX_CRL, Fetcher
from signer.issuers import read_certificates
from signer.ocsp import MAX_OCSP, accept_answer
from signer.presets import TrustPreset, fetch_member, load_member, members
from signer.revocation import accept_crl, crl_number

#: Entries no verification used for this long are no longer fetched ahead.
IDLE = dt.timedelta(days=30)
_CRL_WITHOUT_NEXT_UPDATE = dt.timedelta(days=1)
_OCSP_WITHOUT_NEXT_UPDATE = dt.timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class RefreshEvent:
    """One thing `refresh` did or could not do: an event name and its fields."""

    event: str
    fields: dict[str, object] = field(default_factory=dict)
    is_failure: bool = False


@dataclass(slots=True)
class _Counts:
    refreshed: int = 0
    unchanged: int = 0
    fresh: int = 0
    idle: int = 0
    failed: int = 0


def refresh(store: EvidenceStore, fetcher: Fetcher, presets: tuple[TrustPreset, ...], *,
            base_url: str | None = None, now: dt.datetime | None = None,
            idle: dt.timedelta = IDLE) -> Iterator[RefreshEvent]:
    """Fetch the missing members of ``presets`` (from the CA's URLs, or the same paths
    on ``base_url``) and what is due in ``store``'s cache; yield one event per fetch,
    and a summary last (``refresh done``)."""
    now = now or dt.datetime.now(dt.UTC)
    counts = _Counts()
    for member in members(presets):
        try:
            if load_member(member, store.directory) is not None:
                continue
        except CertificateFileError:
            pass  # damaged: fetched again, and replaced when the pin matches
        try:
            url = fetch_member(member, fetcher, store.directory, base_url=base_url)
        except (SignerError, OSError) as exc:
            counts.failed += 1
            yield RefreshEvent("preset member not fetched", {
                "preset": member.preset.value, "member": member.name,
                "reason": str(exc)}, is_failure=True)
            continue
        counts.refreshed += 1
        yield RefreshEvent("preset member installed", {
            "preset": member.preset.value, "member": member.name, "url": url,
            "sha256": member.sha256})
    for entry in store.entries():
        if entry.url is None:
            continue  # an earlier release's entry: fetched when next needed
        if entry.used_at is not None and now - entry.used_at > idle:
            counts.idle += 1
            continue
        if not _is_due(store, entry, now):
            counts.fresh += 1
            continue
        found = _refresh_one(store, fetcher, entry, now)
        if found.is_failure:
            counts.failed += 1
        elif found.event.endswith("unchanged"):
            counts.unchanged += 1
        else:
            counts.refreshed += 1
        yield found
    yield RefreshEvent("refresh done", {
        "refreshed": counts.refreshed, "unchanged": counts.unchanged,
        "fresh": counts.fresh, "idle": counts.idle, "failed": counts.failed},
        is_failure=counts.failed > 0)


def _is_due(store: EvidenceStore, entry: CacheEntry, now: dt.datetime) -> bool:
    if entry.kind == "crt":
        fetched = entry.fetched_at or entry.used_at
        return fetched is None or now - fetched >= CERTIFICATE_CACHE / 2
    span = _validity(store, entry)
    if span is None:
        return True
    start, until = span
    return now >= start + (until - start) / 2


def _validity(store: EvidenceStore, entry: CacheEntry
              ) -> tuple[dt.datetime, dt.datetime] | None:
    """thisUpdate and until when the kept CRL or OCSP answer is used; None when it is
    gone or unreadable."""
    data = store.read(entry.digest, entry.kind)
    if data is None:
        return None
    try:
        if entry.kind == "crl":
            crl = _load_crl(data)
            if crl is None:
                return None
            start = crl.last_update_utc
            return start, crl.next_update_utc or start + _CRL_WITHOUT_NEXT_UPDATE
        single = next(iter(ocsp.load_der_ocsp_response(data).responses))
    except (ValueError, StopIteration):
        return None
    start = single.this_update_utc
    return start, single.next_update_utc or start + _OCSP_WITHOUT_NEXT_UPDATE


def _refresh_one(store: EvidenceStore, fetcher: Fetcher, entry: CacheEntry,
                 now: dt.datetime) -> RefreshEvent:
    assert entry.url is not None
    what = {"crl": "crl", "ocsp": "ocsp answer", "crt": "issuer certificate"}[entry.kind]
    try:
        if entry.kind == "crt":
            data = fetcher.get(entry.url, max_bytes=MAX_CERTIFICATE)
            try:
                read_certificates(data)
            except ValueError as exc:
                raise FetchError(entry.url, f"holds no readable certificate ({exc})") from exc
            fields: dict[str, object] = {}
        else:
            issuer = _issuer(store, entry)
            if entry.kind == "crl":
                data, fields = _crl(store, fetcher, entry, issuer, now)
            else:
                data, fields = _ocsp(store, fetcher, entry, issuer, now)
    except FetchError as exc:
        return RefreshEvent(f"{what} not refreshed", {"url": entry.url,
                                                      "reason": exc.reason}, is_failure=True)
    digest = store.keep(data, entry.kind)
    store.remember(entry.key, digest, entry.kind, url=entry.url, issuer=entry.issuer,
                   request=entry.request, used_at=entry.used_at)
    state = "unchanged" if digest == entry.digest else "refreshed"
    return RefreshEvent(f"{what} {state}", {"url": entry.url, "sha256": digest, **fields})


def _issuer(store: EvidenceStore, entry: CacheEntry) -> x509.Certificate:
    assert entry.url is not None
    data = store.read(entry.issuer, "crt") if entry.issuer else None
    try:
        if data is not None:
            return x509.load_der_x509_certificate(data)
    except ValueError:
        pass
    raise FetchError(entry.url, "the issuer certificate that must sign it is no longer "
                     "kept; fetched again when a verification needs it")


def _crl(store: EvidenceStore, fetcher: Fetcher, entry: CacheEntry,
         issuer: x509.Certificate, now: dt.datetime) -> tuple[bytes, dict[str, object]]:
    assert entry.url is not None
    data = fetcher.get(entry.url, max_bytes=MAX_CRL)
    try:
        found = accept_crl(data, issuer, now)
    except ValueError as exc:
        raise FetchError(entry.url, str(exc)) from exc
    new = found.crl
    kept = store.read(entry.digest, "crl")
    old = _load_crl(kept) if kept is not None else None
    if old is not None:
        old_number, new_number = crl_number(old), crl_number(new)
        if new.last_update_utc < old.last_update_utc or (
                old_number is not None and new_number is not None and new_number < old_number):
            raise FetchError(entry.url, f"is older than the CRL kept (number {new_number}, "
                             f"thisUpdate {new.last_update_utc:%Y-%m-%d %H:%M} UTC; kept: "
                             f"number {old_number}, thisUpdate "
                             f"{old.last_update_utc:%Y-%m-%d %H:%M} UTC); refused")
    number = crl_number(new)
    return data, {"number": str(number) if number is not None else None,
                  "next_update": new.next_update_utc.isoformat() if new.next_update_utc
                  else None}


def _load_crl(data: bytes) -> x509.CertificateRevocationList | None:
    """The CRL kept (DER or PEM, as it was fetched), or None."""
    try:
        return (x509.load_pem_x509_crl(data) if data.lstrip().startswith(b"-----BEGIN")
                else x509.load_der_x509_crl(data))
    except ValueError:
        return None


def _ocsp(store: EvidenceStore, fetcher: Fetcher, entry: CacheEntry,
          issuer: x509.Certificate, now: dt.datetime) -> tuple[bytes, dict[str, object]]:
    assert entry.url is not None
    if entry.request is None:
        raise FetchError(entry.url, "the OCSP request is not kept; asked again when a "
                         "verification needs it")
    try:
        request = ocsp.load_der_ocsp_request(entry.request)
    except ValueError as exc:
        raise FetchError(entry.url, f"the OCSP request kept is unreadable ({exc})") from exc
    data = fetcher.get(entry.url, max_bytes=MAX_OCSP, data=entry.request,
                       content_type="application/ocsp-request")
    try:
        found = accept_answer(data, entry.url, request, issuer, now)
    except ValueError as exc:
        raise FetchError(entry.url, str(exc)) from exc
    kept = store.read(entry.digest, "ocsp")
    if kept is not None:
        try:
            before = ocsp.load_der_ocsp_response(kept).produced_at_utc
        except ValueError:
            before = None
        if before is not None and found.produced_at < before:
            raise FetchError(entry.url, f"answered with an answer produced "
                             f"{found.produced_at:%Y-%m-%d %H:%M} UTC, older than the one "
                             f"kept ({before:%Y-%m-%d %H:%M} UTC); refused")
    return data, {"serial": f"{request.serial_number:x}", "status":
                  found.status.name.lower(), "until": found.until.isoformat()}
