"""The words a person reads on a console page, and the Vietnamese they may be.

Data values (what came with the mail or from the directory, marked ``data-value``) and
code are taken out; what is left must be a word of the console's Vietnamese catalogue,
of the report's labels, or of a short list of names that have no Vietnamese (DKIM,
S/MIME...). Used by the "no English" checks of the pages, served and in the browser.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from audit import report_labels
from web.i18n import CATALOGUE

#: words with no Vietnamese of their own (the issue's list, and the units of a page)
ALLOWED = {"dkim", "s", "mime", "spf", "dmarc", "arc", "sha", "pdf", "csv", "xlsx", "docx",
           "stt", "ms"}
WORD = re.compile(r"[^\W\d_]+")


class _Words(HTMLParser):
    """The text of ``<main>`` a person reads as words: not inside an element marked
    ``data-value``, nor in code, nor in an attribute."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []
        self.inside_main = False
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.inside_main = True
        if tag in ("br", "input", "img", "meta", "link"):
            return
        self.stack.append((tag, tag == "code" or any(a == "data-value" for a, _ in attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.inside_main = False
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.inside_main and not any(hidden for _, hidden in self.stack):
            self.text.append(data)


def words(page: str) -> set[str]:
    """The words (casefolded) a person reads in ``page``'s ``<main>``."""
    parser = _Words()
    parser.feed(page)
    return {w.casefold() for w in WORD.findall(" ".join(parser.text))}


#: the console's words, and the report's column labels (audit/'s catalogue)
VIETNAMESE = {w.casefold() for vi in [*CATALOGUE.translation("vi").messages.values(),
                                      *report_labels("vi").values()]
              for w in WORD.findall(vi)}


def not_vietnamese(page: str) -> set[str]:
    """The words of ``page`` that are neither Vietnamese nor on the short list."""
    return words(page) - VIETNAMESE - ALLOWED
