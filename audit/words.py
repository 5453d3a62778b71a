"""The words a person reads in audit/'s output: the report (table, HTML, the filed
workbook and document) and the tables of ``audit query``, ``trace`` and ``events``.

English in the code, marked for Babel (``N_``, ``NP_``); Vietnamese, the default, in
audit/locale/vi/LC_MESSAGES/congvu-audit.po. CSV and JSON keep their English column
names and are never translated.
"""

from __future__ import annotations

from pathlib import Path

from mailbase import N_, NP_, Catalogue, Translation

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "locale", "congvu-audit")

#: the headings of the command line's tables, by column (CSV and JSON keep the ids)
HEADINGS: dict[str, str] = {
    "id": N_("Record id"), "received_at": N_("Received at"), "direction": N_("Direction"),
    "envelope_sender": N_("Envelope sender"), "subject": N_("Subject"),
    "action": N_("Decision"), "outcome": N_("Outcome"), "dkim": N_("DKIM"),
    "smime": N_("S/MIME"), "sent_at": N_("Sent at"), "filename": N_("File name"),
    "from": N_("From"), "to": N_("To"), "units": N_("Units"), "signature": N_("Signature"),
    "reply": N_("Reply"), "at": N_("Time"), "kind": N_("Event"), "actor": N_("Done by"),
    "target": N_("Done to"), "unit_id": N_("Unit"), "details": N_("Details"),
}
#: stored values a table shows, by column: the value -> its word (the column's family
#: is the word's context); a value without a word is shown as stored
VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "direction": {"inbound": NP_("direction", "inbound"),
                  "outbound": NP_("direction", "outbound")},
    "action": {"accept": NP_("action", "accept"), "reject": NP_("action", "reject"),
               "quarantine": NP_("action", "quarantine"),
               "strip": NP_("action", "strip attachments"), "tag": NP_("action", "tag"),
               "tempfail": NP_("action", "defer")},
    "outcome": {"relayed": NP_("outcome", "relayed"),
                "stripped": NP_("outcome", "relayed, attachments removed"),
                "quarantined": NP_("outcome", "quarantined"),
                "rejected": NP_("outcome", "rejected"),
                "tempfailed": NP_("outcome", "deferred"),
                "discarded": NP_("outcome", "discarded"),
                "incomplete": NP_("outcome", "not complete yet")},
    "result": {"pass": NP_("result", "pass"), "fail": NP_("result", "fail"),
               "none": NP_("result", "none"), "neutral": NP_("result", "neutral"),
               "softfail": NP_("result", "soft fail"),
               "temperror": NP_("result", "temporary error"),
               "permerror": NP_("result", "permanent error")},
    "verdict": {"valid": NP_("verdict", "valid"), "unsigned": NP_("verdict", "unsigned"),
                "invalid": NP_("verdict", "invalid"),
                "untrusted": NP_("verdict", "untrusted"),
                "expired": NP_("verdict", "expired"),
                "revoked": NP_("verdict", "revoked"),
                "modified-after-signing": NP_("verdict", "modified after signing"),
                "unverifiable": NP_("verdict", "unverifiable")},
    "role": {"person": NP_("role", "person"), "organisation": NP_("role", "organisation"),
             "unknown": NP_("role", "unknown")},
    "kind": {"quarantine-release": NP_("kind", "quarantine release"),
             "quarantine-delete": NP_("kind", "quarantine deletion"),
             "directory-change": NP_("kind", "directory change"),
             "key-rotation": NP_("kind", "key rotation"),
             "user-grant": NP_("kind", "user or grant change"),
             "prune": NP_("kind", "log retention"),
             "service-stop": NP_("kind", "service stop"),
             "audit-key-enrolled": NP_("kind", "audit key enrolled"),
             "archive-prune": NP_("kind", "archive retention"),
             "archive-hold": NP_("kind", "archive legal hold"),
             "archive-hold-release": NP_("kind", "archive hold released"),
             "archive-read": NP_("kind", "archived message read"),
             "units-renamed": NP_("kind", "unit ids renamed")},
}
#: the columns whose values are of a family other than the column's own name
FAMILY = {"dkim": "result", "smime": "result"}


def translation(lang: str) -> Translation:
    """The reports' words in ``lang`` (``vi`` or ``en``).

    :raises ValueError: an unknown language.
    """
    return CATALOGUE.translation(lang)


def heading(column: str, tr: Translation) -> str:
    """A table column's heading in ``tr``'s language (the column id when it has none)."""
    word = HEADINGS.get(column)
    return column if word is None else tr.gettext(word)


def value(column: str, stored: object, tr: Translation) -> str:
    """A stored value of a table's column as a person reads it in ``tr``'s language."""
    text = "" if stored is None else str(stored)
    word = VALUES.get(FAMILY.get(column, column), {}).get(text)
    return text if word is None else tr.word(word)
