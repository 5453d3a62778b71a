"""The words a person reads, from gettext catalogues: English msgids, a .po file per language.

Each package that shows text to a person (the console, the reports, ``document verify
--explain``) keeps its own catalogue, ``<package>/locale/<lang>/LC_MESSAGES/<domain>.po``,
and marks its messages in the code (``N_``, ``NP_``, ``_``, ``pgettext``) so that Babel's
extractor finds them; a test extracts them and compares them with the catalogue.

The .po files are read as they are (Babel's reader), once per process and language, on
first use: no compiled .mo beside them that could go stale, and nothing to build before
the tests, an editable install or the offline bundle run. The price, measured on this
machine (CPU time, five runs): Babel's import 46-49 ms and the console's catalogue (281
messages) 18-22 ms, once per process and only in one that shows text, against about
1.2 s of CPU for ``congvu --help`` to start; a compiled .mo through the stdlib would
take about 1 ms, but would need a build step and a check that it matches its .po.

English is the msgid itself, so it needs no file; a message the Vietnamese catalogue
lacks or leaves empty shows in English (the test makes that a failure, never a page).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

#: the languages a person can read congvu in; Vietnamese is the default everywhere
LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"


def N_(message: str) -> str:
    """Mark ``message`` for the catalogue without translating it (translated when shown)."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """Mark ``message`` in ``context`` (a msgctxt) for the catalogue without translating it."""
    return context, message


@dataclass(frozen=True)
class Translation:
    """One language's messages: ``(context or None, English) -> text``."""

    lang: str
    messages: Mapping[tuple[str | None, str], str] = field(default_factory=dict)

    def gettext(self, message: str) -> str:
        """``message`` in this language (itself when the catalogue has none)."""
        return self.messages.get((None, message)) or message

    def pgettext(self, context: str, message: str) -> str:
        """``message`` of ``context`` in this language (itself when the catalogue has none)."""
        return self.messages.get((context, message)) or message

    def word(self, marked: tuple[str, str]) -> str:
        """A message marked with ``NP_``, in this language."""
        return self.pgettext(*marked)


class Catalogue:
    """A package's catalogue: its ``locale/`` directory and gettext domain."""

    def __init__(self, directory: Path, domain: str) -> None:
        self.directory = directory
        self.domain = domain
        self._loaded: dict[str, Translation] = {}
        self._lock = threading.Lock()

    def path(self, lang: str) -> Path:
        """The .po file of ``lang``."""
        return self.directory / lang / "LC_MESSAGES" / f"{self.domain}.po"

    def translation(self, lang: str) -> Translation:
        """The messages in ``lang``, read on first use.

        :raises ValueError: ``lang`` is not one of ``LANGUAGES``.
        """
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; known: {', '.join(LANGUAGES)}")
        with self._lock:
            loaded = self._loaded.get(lang)
            if loaded is None:
                loaded = self._loaded[lang] = (Translation(lang) if lang == "en"
                                               else Translation(lang, self._read(lang)))
        return loaded

    def _read(self, lang: str) -> dict[tuple[str | None, str], str]:
        from babel.messages.pofile import read_po  # about 45 ms: only when text is shown

        with self.path(lang).open("rb") as handle:
            catalog = read_po(handle, locale=lang, domain=self.domain)
        return {(message.context, str(message.id)): str(message.string)
                for message in catalog if message.id and message.string}


def lang_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--lang vi|en`` (Vietnamese by default) for a command whose output a person reads."""
    return click.option(
        "--lang", type=click.Choice(LANGUAGES), default=DEFAULT_LANGUAGE, show_default=True,
        help="The language a person reads the output in: vi (Vietnamese) or en (English)."
    )(command)
