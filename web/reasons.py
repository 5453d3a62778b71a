"""Reasons on a page: why a verdict or a violation is what it is, in the reader's language.

A reason stored with its code and parameters (policies/ and signer/ registries; also
directory/'s problems of a refused unit, on the unit's form, and web/refusals.py's of a
refused user or grant, on the users and password pages) is
rendered from its template in the page's language, each parameter marked as data; one
stored without a code (a record written before reasons had codes, or a code this
release does not know) is shown as the English text it was stored with, marked as
such.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

from directory.problems import PROBLEMS as DIRECTORY_PROBLEMS
from directory.words import CATALOGUE as DIRECTORY_CATALOGUE
from mailbase import N_, Reason, ReasonBook, Translation
from policies import REASONS as POLICY_REASONS
from policies import REASONS_CATALOGUE as POLICY_CATALOGUE
from signer import REASONS as SIGNER_REASONS
from signer import REASONS_CATALOGUE as SIGNER_CATALOGUE
from web.catalogue import CATALOGUE
from web.refusals import REFUSALS

__all__ = ["BOOK", "as_shown", "reason_html"]

#: every reason code a page can show, with the catalogue of its package
BOOK = ReasonBook([(POLICY_CATALOGUE, POLICY_REASONS), (SIGNER_CATALOGUE, SIGNER_REASONS),
                   (DIRECTORY_CATALOGUE, DIRECTORY_PROBLEMS), (CATALOGUE, REFUSALS)])
#: said after a reason shown as the English it was stored in
AS_RECORDED = N_("(in English, as recorded)")


def _value(text: str) -> str:
    return f"<span data-value>{escape(text)}</span>"


def _text(text: str) -> str:
    return str(escape(text))


def _field(item: object, name: str) -> Any:
    return item.get(name) if isinstance(item, Mapping) else getattr(item, name, None)


def as_shown(reason: Reason) -> dict[str, Any]:
    """A reason as :func:`reason_html` reads it: its code, its values (nested reasons
    in their stored form) and its English."""
    return {**reason.as_json(), "reason": reason.text}


def reason_html(translation: Translation, item: object) -> Markup:
    """The reason of ``item`` (a stored violation, authentication result or signature:
    a mapping or an object with ``reason``, ``code`` and ``params``) as HTML in
    ``translation``'s language; empty when it has no reason."""
    code, params = _field(item, "code"), _field(item, "params")
    if code:
        shown = BOOK.render({"code": code, "params": params or {}}, translation.lang,
                            value=_value, text=_text)
        if shown is not None:
            return Markup(f'<span class="reason" data-code="{escape(code)}">{shown}</span>')
    stored = _field(item, "reason")
    if not stored:
        return Markup("")
    return Markup(f'<span class="reason as-recorded"><span data-value>{escape(stored)}'
                  f'</span> <small>{escape(translation.gettext(AS_RECORDED))}</small></span>')
