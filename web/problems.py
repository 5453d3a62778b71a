"""Why a page could not be shown: the technical detail of an error page, in the
page's language where the words are ours.

A route raises :class:`PageProblem` with a sentence marked for the catalogue (``N_``),
its values, and, when another component said why (a store, the archive, a library),
those words as they came. The error page renders the sentence in the reader's language
with each value marked as data, then the other component's words marked as data and
said to be English as given; the JSON API and the logs keep the English. Any other
HTTP error (Starlette's own "Not Found", "Method Not Allowed"...) has only a library's
words, shown the same way.
"""

from __future__ import annotations

from fastapi import HTTPException
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from mailbase import N_, Translation

__all__ = ["AS_GIVEN", "PageProblem", "detail_html"]

#: said after words another component gave in English
AS_GIVEN = N_("(in English, as given)")


class PageProblem(HTTPException):
    """An HTTP error whose detail is our sentence (``message``, marked with ``N_``, its
    ``{names}`` filled from ``values``) and, after it, ``quoted``: what another
    component said, as it said it."""

    def __init__(self, status_code: int, message: str, *, quoted: object = None,
                 **values: object) -> None:
        self.message = message
        self.values = {name: str(value) for name, value in values.items()}
        self.quoted = str(quoted) if quoted is not None else None
        english = message.format(**self.values)
        super().__init__(status_code=status_code,
                         detail=f"{english}: {self.quoted}" if self.quoted else english)


def _given(translation: Translation, words: str) -> Markup:
    return Markup(f'<span class="as-given"><span data-value lang="en">{escape(words)}</span>'
                  f' <small>{escape(translation.gettext(AS_GIVEN))}</small></span>')


def detail_html(translation: Translation, exc: StarletteHTTPException) -> Markup:
    """The detail of ``exc`` as HTML in ``translation``'s language; empty when none."""
    if isinstance(exc, PageProblem):
        values = {name: Markup(f"<span data-value>{escape(value)}</span>")
                  for name, value in exc.values.items()}
        said = Markup(escape(translation.gettext(exc.message))).format(**values)
        return said + Markup(": ") + _given(translation, exc.quoted) if exc.quoted else said
    detail = exc.detail
    return _given(translation, str(detail)) if detail else Markup("")
