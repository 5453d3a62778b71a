"""The notice that tells someone a message is held, in Vietnamese and English.

Outbound mail: the sender is told; inbound mail: the recipients are. milter/
decides whether to send it (`[policies.quarantine] notify`) and sends it.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from policies.model import Direction
from policies.quarantine import QuarantineEntry


def held_notice(entry: QuarantineEntry, *, from_address: str) -> tuple[list[str], bytes]:
    """Who to tell that `entry` is held, and the message (bytes, CRLF) that tells them."""
    to = [entry.envelope_from] if entry.direction is Direction.OUTBOUND else list(
        entry.recipients)
    to = [a for a in to if a]
    reasons = []
    for v in entry.decision.get("violations", []):
        name = v.get("filename") or v.get("part") or ""
        member = f" ({v['member']})" if v.get("member") else ""
        reasons.append(f"- {name}{member}: {v.get('reason', v.get('rule', ''))}")
    listing = "\n".join(reasons) or "-"
    who_vi = "Thư bạn gửi" if entry.direction is Direction.OUTBOUND else "Thư gửi đến bạn"
    who_en = "A message you sent" if entry.direction is Direction.OUTBOUND else (
        "A message sent to you")
    msg = EmailMessage(policy=SMTP)
    msg["From"] = from_address
    msg["To"] = ", ".join(to) if to else from_address
    msg["Subject"] = "Thư bị giữ lại / Message held"
    msg["Date"] = format_datetime(entry.created)
    msg["Message-ID"] = make_msgid(domain=from_address.rpartition("@")[2] or None)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no replies, no loops
    msg.set_content(
        f"{who_vi} đang bị giữ lại theo chính sách an toàn thông tin "
        f"(mã {entry.id}). Quản trị viên có thể xem xét và chuyển tiếp thư.\n"
        f"Lý do:\n{listing}\n\n"
        f"{who_en} is held by the security policy (id {entry.id}). An administrator "
        f"can review and release it.\nReasons:\n{listing}\n"
    )
    return to, msg.as_bytes()
