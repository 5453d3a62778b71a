"""The words a person reads in policies/' text output (``quarantine list``), and the
reasons a held message carries, in the reader's language.

English in the code, marked for Babel (``NP_``); Vietnamese, the default, in
policies/locale/vi/LC_MESSAGES/congvu-policies.po, the catalogue the reasons' templates
are in (policies/reasons.py). JSON keeps its English keys and stored values; rule
names, addresses and Subjects are data and shown as they are.
"""

from __future__ import annotations

from mailbase import N_, NP_, ReasonBook, Translation
from policies.held import HeldReason
from policies.reasons import CATALOGUE, REASONS

#: what ``quarantine list`` labels, in its order
LABELS: dict[str, tuple[str, str]] = {
    "subject": NP_("quarantine", "subject"),
    "from": NP_("quarantine", "from"),
    "held by": NP_("quarantine", "held by"),
}
NONE = NP_("quarantine", "(none)")
DIRECTIONS: dict[str, tuple[str, str]] = {
    "inbound": NP_("direction", "inbound"), "outbound": NP_("direction", "outbound"),
}
#: after a reason shown as the English it was stored in (held before reasons had codes)
AS_RECORDED = N_("(in English, as recorded)")

_BOOK = ReasonBook([(CATALOGUE, REASONS)])


def translation(lang: str) -> Translation:
    """policies/' words in ``lang`` (``vi`` or ``en``).

    :raises ValueError: an unknown language.
    """
    return CATALOGUE.translation(lang)


def reason_text(reason: HeldReason, tr: Translation) -> str:
    """Why a message is held, in ``tr``'s language: its code rendered from the catalogue,
    else (held before reasons had codes, or a code this release does not know) the
    English it was stored with, said to be so. English is the stored text itself."""
    if tr.lang == "en":
        return reason.reason
    if reason.code:
        shown = _BOOK.render({"code": reason.code, "params": reason.params}, tr.lang)
        if shown is not None:
            return shown
    return f"{reason.reason} {tr.gettext(AS_RECORDED)}"
