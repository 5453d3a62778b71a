"""`document verify --explain`: each signature explained to a person, in Vietnamese or English.

For each signature: the issuer, the subject, the managing unit (by name, with its id),
the signing time and where it came from, integrity, validity at the signing time, the
certificate's validity period, and the revocation status with its evidence. Made from
the result's JSON form (`DocumentResult.as_json`), so the text says nothing the JSON
does not. Times are shown in the province's zone, as the rest of the command line and
the console show them (``[audit] time_zone``, Asia/Ho_Chi_Minh by default), the zone
named once per file and each time with its UTC offset; the JSON keeps them in UTC.
The words are English in the code and Vietnamese in
signer/locale/vi/LC_MESSAGES/congvu-signer.po.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from mailbase import DEFAULT_ZONE, LANGUAGES, N_, NP_, ReasonBook, zone
from signer.reasons import CATALOGUE, REASONS

__all__ = ["LANGUAGES", "explain"]

#: each word of an explanation, in English (the msgid; signer/locale/ has the Vietnamese)
_WORDS: dict[str, str | tuple[str, str]] = {
    "file": N_("File"), "signature": N_("Signature"), "verdict": N_("Verdict"),
    "reason": N_("Reason"), "zone": N_("times in {zone}"),
    "issuer": N_("Issuer"), "subject": N_("Signer"), "unit": N_("Managing unit"),
    "unit_unknown": N_("not determined"), "time": N_("Signing time"),
    "integrity": N_("Integrity"),
    "validity": N_("Certificate valid at the signing time"),
    "period": N_("Certificate validity period"), "period_text": N_("from {start} to {end}"),
    "revocation": N_("Revocation status"), "evidence": N_("Evidence"),
    "crl": N_("CRL of {issuer}, number {number}, issued {this_update}, SHA-256 {sha256}"),
    "ocsp": N_("OCSP answer produced {produced_at}, SHA-256 {sha256}"),
    "none": N_("none"), "notes": N_("Notes"), "not_checked": N_("not checked"),
    "no_signature": N_("No digital signature."),
    "complete": N_("Signed by a person and then the organisation"), "yes": N_("yes"),
    "no": N_("no"), "required": N_("required"),
    "timestamp": N_("from a trusted timestamp"), "claimed": N_("claimed by the signer"),
    "time_none": N_("not stated (judged at the time of verification)"),
    "intact": N_("intact"), "changed": N_("the signed content was changed"),
    "signature-value-wrong": N_("the signature value does not match the certificate"),
    "valid": N_("valid"), "invalid": N_("invalid"), "untrusted": N_("untrusted"),
    "expired": N_("expired"), "revoked": N_("revoked"),
    "modified-after-signing": N_("modified after signing"),
    "unverifiable": N_("unverifiable"), "unsigned": N_("unsigned"),
    "good": N_("not revoked"), "unknown": N_("unknown"),
    # a certificate's revocation status, apart from the verdict "revoked"
    "revoked_status": NP_("revocation", "revoked"),
    "method_crl": N_("by CRL"), "method_ocsp": N_("by OCSP"),
    "role": N_("Role"), "role_organisation": N_("the organisation's signature"),
    "role_person": N_("a person's signature"), "role_unknown": N_("unknown"),
    "no_directory": N_("No unit directory: every signature's role is unknown and no "
                       "file counts as complete."),
    "as_recorded": N_("(in English, as recorded)"),
}
#: signer/'s catalogue (one reading serves the words and the reasons)
_CATALOGUE = CATALOGUE
_REASONS = ReasonBook([(CATALOGUE, REASONS)])


def _words(lang: str) -> dict[str, str]:
    """Every word of an explanation in ``lang``, by key."""
    tr = _CATALOGUE.translation(lang)
    return {key: tr.gettext(word) if isinstance(word, str) else tr.word(word)
            for key, word in _WORDS.items()}


#: The verdicts that mean the certificate itself was judged valid at the signing time.
_CERT_JUDGED = {"valid": "yes", "expired": "no", "revoked": "no", "untrusted": "no"}


def explain(record: dict[str, Any], *, lang: str = "vi", has_directory: bool = True,
            unit_names: Mapping[str, str] | None = None, time_zone: str = DEFAULT_ZONE) -> str:
    """The explanation of one file's JSON record (`DocumentResult.as_json` plus ``file``).

    ``has_directory`` False says that roles could not be read (no directory);
    ``unit_names`` gives each unit id its name; times are shown in ``time_zone``.

    :raises ValueError: an unknown language or time zone.
    """
    t = _words(lang)
    tz = zone(time_zone)
    verdict = str(record.get("verdict", ""))
    lines = [f"{t['file']}: {record.get('file') or record.get('filename') or '?'} — "
             f"{t.get(verdict, verdict)}"]
    signatures = record.get("signatures") or []
    if not signatures:
        lines.append(f"  {t['no_signature']}")
    else:
        lines.append(f"  ({t['zone'].format(zone=time_zone)})")
    for number, sig in enumerate(signatures, 1):
        lines += _signature(number, sig, t, unit_names or {}, tz, lang)
    if signatures:
        lines.append(f"{t['complete']}: {t['yes'] if record.get('complete') else t['no']}")
        if not has_directory:
            lines.append(t["no_directory"])
    return "\n".join(lines)


def _signature(number: int, sig: dict[str, Any], t: dict[str, str],
               unit_names: Mapping[str, str], tz: ZoneInfo, lang: str) -> list[str]:
    verdict = str(sig.get("verdict", ""))
    head = ", ".join(str(x) for x in (sig.get("field"), sig.get("format")) if x)
    unit = str(sig.get("unit") or "")
    lines = [f"{t['signature']} {number}" + (f" ({head})" if head else "") + ":",
             f"  {t['verdict']}: {t.get(verdict, verdict)}",
             f"  {t['reason']}: {_reason(sig, t, lang)}",
             f"  {t['issuer']}: {sig.get('issuer') or t['none']}",
             f"  {t['subject']}: {sig.get('subject') or t['none']}",
             f"  {t['role']}: {t.get('role_' + str(sig.get('role')), t['role_unknown'])}",
             f"  {t['unit']}: " + (f"{unit_names[unit]} ({unit})" if unit in unit_names
                                   else unit or t["unit_unknown"]),
             f"  {t['time']}: {_time(sig, t, tz)}",
             f"  {t['integrity']}: {t.get(str(sig.get('integrity')), t['not_checked'])}",
             f"  {t['validity']}: "
             f"{t[_CERT_JUDGED[verdict]] if verdict in _CERT_JUDGED else t['not_checked']}"]
    if sig.get("valid_from") and sig.get("valid_until"):
        lines.append(f"  {t['period']}: " + t["period_text"].format(
            start=_when(sig["valid_from"], tz), end=_when(sig["valid_until"], tz)))
    lines += _revocation(sig.get("revocation") or {}, t, tz)
    for note in sig.get("notes") or []:
        lines.append(f"  {t['notes']}: {note}")
    return lines


def _reason(sig: dict[str, Any], t: dict[str, str], lang: str) -> str:
    """Why the verdict, in ``lang`` from its code; the English, said to be so, when the
    signature has no code this release knows."""
    shown = (_REASONS.render({"code": sig["code"], "params": sig.get("params")}, lang)
             if sig.get("code") else None)
    if shown is not None:
        return shown
    stored = str(sig.get("reason") or "")
    return f"{stored} {t['as_recorded']}" if stored else ""


def _time(sig: dict[str, Any], t: dict[str, str], tz: ZoneInfo) -> str:
    source = str(sig.get("time_source", "none"))
    if not sig.get("signing_time"):
        return t["time_none"]
    return f"{_when(sig['signing_time'], tz)} ({t.get(source, source)})"


def _revocation(revocation: dict[str, Any], t: dict[str, str], tz: ZoneInfo) -> list[str]:
    status = str(revocation.get("status", "unknown"))
    word = t["revoked_status"] if status == "revoked" else t.get(status, status)
    how = t.get(f"method_{revocation.get('method', 'none')}", "")
    required = f" ({t['required']})" if revocation.get("is_required") else ""
    lines = [f"  {t['revocation']}: {word}" + (f" {how}" if how else "") + required]
    crl, ocsp = revocation.get("crl"), revocation.get("ocsp")
    if crl:
        evidence = t["crl"].format(issuer=crl["issuer"], number=crl["number"] or "?",
                                   this_update=_when(crl["this_update"], tz),
                                   sha256=crl["sha256"])
    elif ocsp:
        evidence = t["ocsp"].format(produced_at=_when(ocsp["produced_at"], tz),
                                    sha256=ocsp["sha256"])
    else:
        evidence = t["none"]
    lines.append(f"  {t['evidence']}: {evidence}")
    return lines


def _when(value: str, tz: ZoneInfo) -> str:
    """An ISO time of the JSON in the zone, with its offset: 2026-12-07 13:45:00 +07:00."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    if moment.tzinfo is None:  # the JSON's times are UTC
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.isoformat()[-6:]}"
