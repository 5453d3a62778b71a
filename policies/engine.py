"""The engine: `decide` (pure) and `strip` (what milter applies for a strip decision)."""

from __future__ import annotations

import base64
from collections.abc import Mapping

from mailbase import HeaderBlock, read_header, reply_text
from policies.errors import PolicyError
from policies.model import SEVERITY, Action, Decision, Finding, Part
from policies.parts import MessageParts, read_parts
from policies.policy import Policy
from policies.rules import Context, Scope


def decide(raw: bytes, policy: Policy, *, documents: Mapping[str, str] | None = None,
           parts: MessageParts | None = None, header: HeaderBlock | None = None) -> Decision:
    """What `policy` makes of the message `raw`: the most severe action of all findings.

    Every rule runs; the order of severity is reject > quarantine > strip > tag >
    accept. Malformed input is a finding, never an exception. ``documents`` maps an
    attachment's sha256 to its document-signature verdict, for the rules that use it.
    ``parts`` are `raw`'s parts as :func:`policies.read_parts` read them with the
    policy's limits (the milter shares one reading between its stages and the
    record); they are read here when not given. ``header`` is `raw`'s header block as
    :func:`mailbase.read_header` read it (the milter's, read at the door); it is read
    here, once for the walk and the rules, when not given.

    :raises PolicyError: only when the engine itself fails (a bug or no memory); the
        caller answers 451 and the message is retried.
    """
    try:
        if header is None:
            header = read_header(raw)
        if parts is None:
            parts = read_parts(raw, walk_limits=policy.walk_limits,
                               archive_limits=policy.archive_limits, header=header)
        return _decide(raw, policy, documents or {}, parts, header)
    except Exception as exc:  # the contract: nothing but PolicyError leaves decide
        raise PolicyError(f"the policy engine failed on this message: {exc!r}") from exc


def _decide(raw: bytes, policy: Policy, documents: Mapping[str, str],
            read: MessageParts, header: HeaderBlock) -> Decision:
    found, parts = read.walk, read.parts
    subject = header.first(b"subject")
    ctx = Context(
        raw_size=len(raw),
        walk=found,
        attachment_count=sum(1 for p in found.parts if p.is_attachment),
        parts=parts,
        documents=documents,
        subject=subject.text if subject is not None else "",
    )
    whole = Part(path="", content_type="message/rfc822", filenames=(), data=b"",
                 size=len(raw))
    findings: list[Finding] = []
    for rule, action in policy.rules:
        if rule.scope is Scope.MESSAGE:
            findings += (Finding(v, action, None) for v in rule.check(whole, ctx))
        else:
            for part in parts:
                findings += (Finding(v, action, part.span) for v in rule.check(part, ctx))
    action = max((f.action for f in findings), key=SEVERITY.__getitem__, default=Action.ACCEPT)
    reply = ""
    if action is Action.REJECT:
        first = next(f.violation for f in findings if f.action is Action.REJECT)
        what = first.rule + (f": {first.filename}" if first.filename else "")
        reply = reply_text(policy.reject_text_vi, policy.reject_text_en, what)
    tags = sorted({f.violation.rule for f in findings if f.action is Action.TAG})
    return Decision(
        action=action,
        findings=tuple(findings),
        reply_text=reply,
        tag_header=(policy.tag_header, ", ".join(tags)) if tags else None,
        attachments=read.attachments,
    )


NOTICE_VI = "Tệp đính kèm đã bị gỡ bỏ theo chính sách an toàn thông tin"
NOTICE_EN = "An attachment was removed by the security policy"


def _notice(findings: list[Finding], eol: bytes) -> bytes:
    lines = [NOTICE_VI + ".", NOTICE_EN + "."]
    for f in findings:
        v = f.violation
        name = v.filename or v.part or "?"
        lines.append(f"- {name}" + (f" ({v.member})" if v.member else "") + f": {v.rule}")
    body = base64.encodebytes("\n".join(lines).encode("utf-8") + b"\n")
    return eol.join([
        b'Content-Type: text/plain; charset="utf-8"',
        b"Content-Transfer-Encoding: base64",
        b"Content-Disposition: inline",
        b"",
        body.replace(b"\n", eol).rstrip(eol),
    ])


def strip(raw: bytes, decision: Decision) -> bytes:
    """`raw` without the parts whose findings say strip, each replaced by a short
    text/plain notice in Vietnamese and English; the rest of the bytes unchanged.

    :raises ValueError: when `decision` has no strip findings.
    """
    stripped = [f for f in decision.findings if f.action is Action.STRIP]
    if not stripped:
        raise ValueError("strip() needs a decision with strip findings")
    eol = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    if any(f.span is None for f in stripped):
        return _replace_body(raw, stripped, eol)
    spans: dict[tuple[int, int], list[Finding]] = {}
    for f in stripped:
        assert f.span is not None
        spans.setdefault(f.span, []).append(f)
    # a span inside another one goes with the outer one.
    ordered = sorted(spans, key=lambda s: (s[0], -s[1]))
    merged: list[tuple[tuple[int, int], list[Finding]]] = []
    for span in ordered:
        if merged and span[1] <= merged[-1][0][1]:
            merged[-1][1].extend(spans[span])
        else:
            merged.append((span, list(spans[span])))
    out: list[bytes] = []
    pos = 0
    for (start, end), group in merged:
        out += [raw[pos:start], _notice(group, eol)]
        pos = end
    out.append(raw[pos:])
    return b"".join(out)


def _replace_body(raw: bytes, findings: list[Finding], eol: bytes) -> bytes:
    head_end = raw.find(eol + eol)
    head = raw if head_end < 0 else raw[:head_end]
    kept: list[bytes] = []
    is_content = False
    for line in head.split(eol):
        if line[:1] in (b" ", b"\t"):
            if not is_content:
                kept.append(line)
            continue
        is_content = line.lower().startswith(b"content-")
        if not is_content:
            kept.append(line)
    return eol.join(kept) + eol + _notice(findings, eol) + eol
