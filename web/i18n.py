"""The console's words: Vietnamese by default, English on request, from a gettext catalogue.

The templates write their words in English (``_("Search")``, ``pgettext("report",
"From")``) and web/locale/vi/LC_MESSAGES/congvu-web.po gives each its Vietnamese. Stored
values a person reads (an action, an outcome, a verdict, a listener's role...) are words
of a family, named here with the family as the message's context, so that the same
English ("None", "Organisation") can read differently in each; a value with no word is
shown as it is, marked as data. tests/web/test_catalogue.py extracts every marked message
with Babel and compares them with the catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from mailbase import DEFAULT_LANGUAGE, LANGUAGES, N_, NP_, Translation
from web.catalogue import CATALOGUE
from web.reasons import reason_html

__all__ = ["CATALOGUE", "DEFAULT", "LANGUAGES", "Words", "words"]

DEFAULT = DEFAULT_LANGUAGE

#: stored values by family: the value as stored -> its word (the family is the context)
WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "direction": {
        "inbound": NP_("direction", "Inbound"),
        "outbound": NP_("direction", "Outbound"),
    },
    "filter": {
        "date": NP_("filter", "Write the date as dd/mm/yyyy (with HH:MM if wanted), or "
                              "YYYY-MM-DD."),
        "period": NP_("filter", "Write the period as YYYY-MM, YYYY-Qn or YYYY."),
        "after": NP_("filter", "«Until» must come after «Since»."),
        "choice": NP_("filter", "Choose one of the listed values."),
        "sha256": NP_("filter", "A SHA-256 is 64 hexadecimal digits (0-9, a-f)."),
        "text": NP_("filter", "The words need at least one letter or digit."),
        "page": NP_("filter", "Pages are numbered from 1."),
        "page_size": NP_("filter", "A page holds 1 to 1000 records."),
        "other": NP_("filter", "This value cannot be used."),
    },
    "operation": {
        "sign": NP_("operation", "Signed on the way out"),
        "verify": NP_("operation", "Checked on arrival"),
    },
    "result": {
        "pass": NP_("result", "Pass"),
        "fail": NP_("result", "Fail"),
        "softfail": NP_("result", "Soft fail"),
        "none": NP_("result", "None"),
        "neutral": NP_("result", "Neutral"),
        "temperror": NP_("result", "Temporary error"),
        "permerror": NP_("result", "Permanent error"),
        "policy": NP_("result", "Policy"),
    },
    "action": {
        "accept": NP_("action", "Accept"),
        "reject": NP_("action", "Reject"),
        "quarantine": NP_("action", "Quarantine"),
        "strip": NP_("action", "Strip attachments"),
        "tag": NP_("action", "Tag"),
        "tempfail": NP_("action", "Defer"),
    },
    "outcome": {
        "relayed": NP_("outcome", "Relayed"),
        "stripped": NP_("outcome", "Relayed, attachments removed"),
        "quarantined": NP_("outcome", "Quarantined"),
        "rejected": NP_("outcome", "Rejected"),
        "tempfailed": NP_("outcome", "Deferred, to be retried"),
        "incomplete": NP_("outcome", "Not complete yet"),
    },
    "verdict": {
        "valid": NP_("verdict", "Valid"),
        "unsigned": NP_("verdict", "Unsigned"),
        "invalid": NP_("verdict", "Invalid"),
        "untrusted": NP_("verdict", "Untrusted certificate"),
        "expired": NP_("verdict", "Expired certificate"),
        "revoked": NP_("verdict", "Revoked certificate"),
        "modified-after-signing": NP_("verdict", "Changed after signing"),
        "unverifiable": NP_("verdict", "Could not be checked"),
    },
    # a signer's role (documents) and a listener's role (records) share the family
    "role": {
        "organisation": NP_("role", "Organisation"),
        "person": NP_("role", "Person"),
        "unknown": NP_("role", "Unknown"),
        "outbound": NP_("role", "Outbound"),
        "inbound": NP_("role", "Inbound"),
        "auto": NP_("role", "Automatic"),
    },
    "family": {
        "gov": NP_("family", "The government CA"),
        "public": NP_("family", "A public CA"),
        "other": NP_("family", "Another CA"),
    },
    "admin": {
        "quarantine-release": NP_("admin", "Quarantine release"),
        "quarantine-delete": NP_("admin", "Quarantine deletion"),
        "directory-change": NP_("admin", "Directory change"),
        "key-rotation": NP_("admin", "Key rotation"),
        "user-grant": NP_("admin", "User or grant change"),
        "prune": NP_("admin", "Log retention"),
        "service-stop": NP_("admin", "Service stop"),
        "audit-key-enrolled": NP_("admin", "Audit key enrolled"),
        "archive-prune": NP_("admin", "Archive retention"),
        "archive-hold": NP_("admin", "Archive legal hold"),
        "archive-hold-release": NP_("admin", "Archive hold released"),
        "units-renamed": NP_("admin", "Unit ids renamed"),
        "archive-read": NP_("admin", "Archived content read"),
        "chain-imported": NP_("admin", "Log imported as a chain"),
    },
    # a unit's fields (the directory's columns), on its form and in its history
    "unit-field": {
        "id": NP_("unit-field", "Unit id"),
        "name": NP_("unit-field", "Name"),
        "parent": NP_("unit-field", "Parent unit (id)"),
        "address": NP_("unit-field", "Official address"),
        "short_name": NP_("unit-field", "Short name"),
        "name_en": NP_("unit-field", "Name in English"),
        "kind": NP_("unit-field", "Kind of unit"),
        "aliases": NP_("unit-field", "Other addresses (separated by ;)"),
        "dkim_domain": NP_("unit-field", "DKIM signing domain"),
        "phone": NP_("unit-field", "Phone"),
        "website": NP_("unit-field", "Web site"),
        "active": NP_("unit-field", "Active"),
        "senders": NP_("unit-field", "Mailboxes allowed to send as the unit"),
        "certificate": NP_("unit-field", "S/MIME certificate (PEM)"),
        "valid_from": NP_("unit-field", "Valid from"),
        "valid_until": NP_("unit-field", "Valid until"),
        "successor": NP_("unit-field", "Successor unit (id)"),
        "document_certificates": NP_("unit-field", "Document signing certificates"),
        "organ_id": NP_("unit-field", "Identifier code in the document exchange"),
    },
    # what a directory change did to a unit
    "change": {
        "created": NP_("change", "Created"),
        "updated": NP_("change", "Updated"),
        "deactivated": NP_("change", "Deactivated"),
    },
    # a record's technical fields, folded away on its page, and the filters' names
    "field": {
        "decided_at": NP_("field", "Decided at"),
        "sha256": NP_("field", "SHA-256"),
        "dkim": NP_("field", "DKIM"),
        "smime": NP_("field", "S/MIME"),
        "listener": NP_("field", "Listener"),
        "role": NP_("field", "Listener's role"),
        "client_address": NP_("field", "Sending host's address"),
        "client_helo": NP_("field", "Sending host's name (HELO)"),
        "queue_id": NP_("field", "Postfix queue id"),
        "message_id": NP_("field", "Message-ID"),
        "header_date": NP_("field", "Date in the message"),
        "size": NP_("field", "Size (bytes)"),
        "processing_ms": NP_("field", "Processing time (ms)"),
        "archived_sha256": NP_("field", "SHA-256 of the archived copy"),
        "prev_hash": NP_("field", "Previous event's hash"),
        "hash": NP_("field", "This record's hash"),
        "path": NP_("field", "Place in the message"),
        "declared_type": NP_("field", "Declared type"),
        "detected_type": NP_("field", "Type found in the bytes"),
    },
}

#: each audit filter's name, for saying which one a person got wrong (the URL parameter
#: -> the label its form field has)
FILTER_LABELS: dict[str, str | tuple[str, str]] = {
    "unit": N_("Unit"), "sender_unit": N_("Sent by unit"),
    "recipient_unit": N_("Receiving units"), "since": N_("Since"), "until": N_("Until"),
    "period": N_("Period (YYYY-MM, YYYY-Qn, YYYY)"), "text": N_("Words"),
    "direction": N_("Direction"), "decision": N_("Decision"), "outcome": N_("Outcome"),
    "page": N_("Page"), "page_size": N_("Records per page"),
    "sha256": NP_("field", "SHA-256"), "dkim": NP_("field", "DKIM"),
    "smime": NP_("field", "S/MIME"), "message_id": NP_("field", "Message-ID"),
    "queue_id": NP_("field", "Postfix queue id"), "sender": N_("Sender"),
    "recipient": N_("Recipient"), "filename": N_("File name"),
}

#: what a page tells a person went wrong, by the code the routes pass
NOTICES: dict[str, str] = {
    "bad_login": N_("Wrong user name or password."),
    "too_many": N_("Too many failed logins; try again later."),
    "wrong_current": N_("The current password is wrong."),
    "password_mismatch": N_("The two new passwords differ."),
    "password_short": N_("The new password is too short."),
    "not_audited": N_("The password was changed but could not be audited:"),
    "forbidden": N_("Not allowed."),
    "not_found": N_("Not found."),
    "error": N_("Error"),
}


@dataclass(frozen=True)
class Words:
    """The words of one page, in one language: what the templates call."""

    translation: Translation

    @property
    def lang(self) -> str:
        return self.translation.lang

    def gettext(self, message: str) -> str:
        """A message of the templates (``_``)."""
        return self.translation.gettext(message)

    def pgettext(self, context: str, message: str) -> str:
        """A message of the templates in its context."""
        return self.translation.pgettext(context, message)

    def word(self, family: str, value: object) -> str | None:
        """The word for a stored ``value`` of ``family``, or None when there is none (the
        page then shows the value itself, marked as data)."""
        marked = WORDS.get(family, {}).get(str(value))
        return None if marked is None else self.translation.word(marked)

    def filter_label(self, field: str) -> str:
        """The label of the audit filter named ``field`` (its URL parameter)."""
        label = FILTER_LABELS.get(field, N_("Filters"))
        return (self.translation.gettext(label) if isinstance(label, str)
                else self.translation.word(label))

    def notice(self, code: str) -> str:
        """What a page says went wrong, by its code (the code itself if unknown)."""
        message = NOTICES.get(code)
        return code if message is None else self.translation.gettext(message)

    def reason(self, item: object) -> Markup:
        """Why a stored violation, authentication result or document signature is what
        it is, in this language; the stored English, said to be so, when it has no
        code this release knows (web/reasons.py)."""
        return reason_html(self.translation, item)


def words(lang: str) -> Words:
    """The console's words in ``lang`` (Vietnamese unless it is 'en')."""
    return Words(CATALOGUE.translation(lang if lang in LANGUAGES else DEFAULT))
