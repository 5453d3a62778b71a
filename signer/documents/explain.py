"""`document verify --explain`: each signature explained to a person, in Vietnamese or English.

For each signature: the issuer, the subject, the managing unit (by name, with its id),
the signing time and where it came from, integrity, validity at the signing time, the
certificate's validity period, and the revocation status with its evidence. Made from
the result's JSON form (`DocumentResult.as_json`), so the text says nothing the JSON
does not. Times are shown in the province's zone, as the rest of the command line and
the console show them (``[audit] time_zone``, Asia/Ho_Chi_Minh by default), the zone
named once per file and each time with its UTC offset; the JSON keeps them in UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo

from mailbase import DEFAULT_ZONE, zone

_TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "file": "Tệp", "signature": "Chữ ký", "verdict": "Kết luận", "reason": "Lý do",
        "zone": "thời gian theo múi giờ {zone}",
        "issuer": "Tổ chức cấp chứng thư số", "subject": "Người/tổ chức ký",
        "unit": "Đơn vị quản lý", "unit_unknown": "chưa xác định",
        "time": "Thời điểm ký", "integrity": "Tính toàn vẹn",
        "validity": "Hiệu lực chứng thư số tại thời điểm ký",
        "period": "Thời hạn chứng thư số", "period_text": "từ {start} đến {end}",
        "revocation": "Tình trạng thu hồi", "evidence": "Bằng chứng",
        "crl": "CRL của {issuer}, số {number}, phát hành {this_update}, SHA-256 {sha256}",
        "ocsp": "trả lời OCSP lúc {produced_at}, SHA-256 {sha256}",
        "none": "không có", "notes": "Ghi chú", "not_checked": "chưa kiểm tra",
        "no_signature": "Không có chữ ký số.", "complete": "Đủ chữ ký cá nhân và tổ chức",
        "yes": "có", "no": "không", "required": " (bắt buộc)",
        "timestamp": "theo dấu thời gian tin cậy", "claimed": "do bên ký tự khai",
        "time_none": "không ghi (đánh giá tại thời điểm kiểm tra)",
        "intact": "nguyên vẹn", "changed": "nội dung đã ký bị thay đổi",
        "signature-value-wrong": "giá trị chữ ký không khớp chứng thư số",
        "valid": "hợp lệ", "invalid": "không hợp lệ", "untrusted": "không được tin cậy",
        "expired": "hết hạn", "revoked": "bị thu hồi",
        "modified-after-signing": "bị sửa đổi sau khi ký",
        "unverifiable": "không kiểm tra được", "unsigned": "không có chữ ký",
        "good": "chưa bị thu hồi", "unknown": "không xác định",
        "revoked_status": "đã bị thu hồi", "method_crl": "qua CRL",
        "method_ocsp": "qua OCSP", "method_none": "",
        "role": "Vai trò", "role_organisation": "chữ ký của cơ quan, tổ chức",
        "role_person": "chữ ký của cá nhân", "role_unknown": "không xác định",
        "no_directory": "Không có danh bạ đơn vị: vai trò của mọi chữ ký là không xác "
                        "định và văn bản không được coi là đủ chữ ký.",
    },
    "en": {
        "file": "File", "signature": "Signature", "verdict": "Verdict", "reason": "Reason",
        "zone": "times in {zone}",
        "issuer": "Issuer", "subject": "Signer", "unit": "Managing unit",
        "unit_unknown": "not determined", "time": "Signing time", "integrity": "Integrity",
        "validity": "Certificate valid at the signing time",
        "period": "Certificate validity period", "period_text": "from {start} to {end}",
        "revocation": "Revocation status", "evidence": "Evidence",
        "crl": "CRL of {issuer}, number {number}, issued {this_update}, SHA-256 {sha256}",
        "ocsp": "OCSP answer produced {produced_at}, SHA-256 {sha256}",
        "none": "none", "notes": "Notes", "not_checked": "not checked",
        "no_signature": "No digital signature.",
        "complete": "Signed by a person and then the organisation", "yes": "yes",
        "no": "no", "required": " (required)",
        "timestamp": "from a trusted timestamp", "claimed": "claimed by the signer",
        "time_none": "not stated (judged at the time of verification)",
        "intact": "intact", "changed": "the signed content was changed",
        "signature-value-wrong": "the signature value does not match the certificate",
        "valid": "valid", "invalid": "invalid", "untrusted": "untrusted",
        "expired": "expired", "revoked": "revoked",
        "modified-after-signing": "modified after signing",
        "unverifiable": "unverifiable", "unsigned": "unsigned",
        "good": "not revoked", "unknown": "unknown", "revoked_status": "revoked",
        "method_crl": "by CRL", "method_ocsp": "by OCSP", "method_none": "",
        "role": "Role", "role_organisation": "the organisation's signature",
        "role_person": "a person's signature", "role_unknown": "unknown",
        "no_directory": "No unit directory: every signature's role is unknown and no "
                        "file counts as complete.",
    },
}
#: The verdicts that mean the certificate itself was judged valid at the signing time.
_CERT_JUDGED = {"valid": "yes", "expired": "no", "revoked": "no", "untrusted": "no"}
LANGUAGES = tuple(_TEXT)


def explain(record: dict[str, Any], *, lang: str = "vi", has_directory: bool = True,
            unit_names: Mapping[str, str] | None = None, time_zone: str = DEFAULT_ZONE) -> str:
    """The explanation of one file's JSON record (`DocumentResult.as_json` plus ``file``).

    ``has_directory`` False says that roles could not be read (no directory);
    ``unit_names`` gives each unit id its name; times are shown in ``time_zone``.

    :raises ValueError: an unknown language or time zone.
    """
    if lang not in _TEXT:
        raise ValueError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
    t = _TEXT[lang]
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
        lines += _signature(number, sig, t, unit_names or {}, tz)
    if signatures:
        lines.append(f"{t['complete']}: {t['yes'] if record.get('complete') else t['no']}")
        if not has_directory:
            lines.append(t["no_directory"])
    return "\n".join(lines)


def _signature(number: int, sig: dict[str, Any], t: dict[str, str],
               unit_names: Mapping[str, str], tz: ZoneInfo) -> list[str]:
    verdict = str(sig.get("verdict", ""))
    head = ", ".join(str(x) for x in (sig.get("field"), sig.get("format")) if x)
    unit = str(sig.get("unit") or "")
    lines = [f"{t['signature']} {number}" + (f" ({head})" if head else "") + ":",
             f"  {t['verdict']}: {t.get(verdict, verdict)}",
             f"  {t['reason']}: {sig.get('reason', '')}",
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


def _time(sig: dict[str, Any], t: dict[str, str], tz: ZoneInfo) -> str:
    source = str(sig.get("time_source", "none"))
    if not sig.get("signing_time"):
        return t["time_none"]
    return f"{_when(sig['signing_time'], tz)} ({t.get(source, source)})"


def _revocation(revocation: dict[str, Any], t: dict[str, str], tz: ZoneInfo) -> list[str]:
    status = str(revocation.get("status", "unknown"))
    word = t["revoked_status"] if status == "revoked" else t.get(status, status)
    how = t.get(f"method_{revocation.get('method', 'none')}", "")
    required = t["required"] if revocation.get("is_required") else ""
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
