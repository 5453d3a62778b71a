"""Every word a person reads goes through a catalogue, and each catalogue holds exactly
the words its package marks.

For each package that shows text to a person, Babel extracts the marked messages from
its code and templates (``_``, ``N_``, ``NP_``, ``pgettext``), as ``pybabel extract``
would, and the test compares them with the package's Vietnamese .po: none missing, none
stale, none left untranslated. The templates are then read with their Jinja taken out:
what is left (text and the attributes a person reads) must be empty, or a name with no
Vietnamese of its own (DKIM, S/MIME...), so no word reaches a page without the catalogue.
"""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
#: the markers: gettext's own, and ``N_`` and ``NP_`` (mailbase's, marking without
#: translating)
KEYWORDS = {"_": None, "gettext": None, "N_": None, "NP_": ((1, "c"), 2),
            "pgettext": ((1, "c"), 2)}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
#: package -> its gettext domain
PACKAGES = {"web": "congvu-web", "audit": "congvu-audit", "signer": "congvu-signer",
            "policies": "congvu-policies", "directory": "congvu-directory"}
#: words with no Vietnamese of their own, which a template may write as they are
NAMES = {"DKIM", "S/MIME", "SPF", "DMARC", "ARC", "SHA-256", "PDF", "CSV", "XLSX", "DOCX",
         "vCard", "API", "JSON", "OpenAPI", "STT"}
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "value", "label"}
JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
WORD = re.compile(r"[^\W\d_]+")


def extracted(package: str) -> set[tuple[str | None, str]]:
    found = set()
    for _name, _line, message, _comments, context in extract_from_dir(
            ROOT / package, METHODS, keywords=KEYWORDS, comment_tags=()):
        found.add((context, message))
    return found


def catalogue(package: str, domain: str) -> dict[tuple[str | None, str], str]:
    path = ROOT / package / "locale" / "vi" / "LC_MESSAGES" / f"{domain}.po"
    with path.open("rb") as handle:
        return {(m.context, str(m.id)): str(m.string)
                for m in read_po(handle, locale="vi") if m.id}


@pytest.mark.parametrize(("package", "domain"), sorted(PACKAGES.items()))
def test_the_catalogue_holds_exactly_the_marked_messages(package: str, domain: str) -> None:
    marked = extracted(package)
    po = catalogue(package, domain)
    assert marked, "nothing extracted"
    assert sorted(marked - set(po), key=str) == [], "marked but not in the catalogue"
    assert sorted(set(po) - marked, key=str) == [], "in the catalogue but marked nowhere"
    assert sorted(k for k, v in po.items() if not v.strip()) == [], "untranslated"


class _Literal(HTMLParser):
    """What a template says to a person without the catalogue."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.said: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.said += [value for name, value in attrs
                      if value and name in READ_ATTRIBUTES
                      and not (tag == "input" and name == "value")]

    def handle_data(self, data: str) -> None:
        self.said.append(data)


def unmarked(template: str) -> list[str]:
    parser = _Literal()
    parser.feed(JINJA.sub(" ", template))
    return [text.strip() for text in parser.said
            if WORD.search(text) and text.strip() not in NAMES]


@pytest.mark.parametrize("template", sorted(
    p.relative_to(ROOT).as_posix() for package in PACKAGES
    for p in (ROOT / package).glob("**/templates/*.html")))
def test_a_template_says_nothing_outside_the_catalogue(template: str) -> None:
    assert unmarked((ROOT / template).read_text(encoding="utf-8")) == []


def test_the_template_check_sees_a_literal_word() -> None:
    assert unmarked('<p title="Hello">{{ _("Search") }} DKIM <b>Save</b></p>') == [
        "Hello", "Save"]


def _hidden_in_f_strings(package: str) -> list[str]:
    """Marked messages written inside an f-string, where Babel's extractor (reading
    Python 3.11's tokens) cannot see them."""
    found = []
    for path in (ROOT / package).glob("**/*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.JoinedStr):
                continue
            for call in ast.walk(node):
                name = (call.func.attr if isinstance(call, ast.Call)
                        and isinstance(call.func, ast.Attribute)
                        else getattr(getattr(call, "func", None), "id", ""))
                if isinstance(call, ast.Call) and name in KEYWORDS and any(
                        isinstance(arg, ast.Constant) for arg in call.args):
                    found.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_message_is_hidden_in_an_f_string(package: str) -> None:
    assert _hidden_in_f_strings(package) == []
