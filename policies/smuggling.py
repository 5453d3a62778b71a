"""HTML that builds a file in the browser ("HTML smuggling").

An HTML attachment opened in a browser can hand the reader a file that never
travelled as one: a `data:` URI of a program behind a link with a `download`
attribute, or a large base64 blob that a script turns into a Blob and saves. The
file is then never seen by a mail filter that looks only at attachments.

Two things are done with such HTML. Every `data:` URI of an application type is
decoded into a member of the HTML part (listed by archives.py under the archive
budget), so a program there is blocked as if attached. And `smuggling_signs` says
whether the HTML both builds a file in script and carries a payload to build it
from, for the `html-smuggling` rule. All scans are single regular-expression passes
without backtracking over the bytes, so a huge or hostile HTML costs linear time.

Smuggling pages hide both halves. The call that saves the file may be spelt so no
literal matches (`window["URL"]["create" + "ObjectURL"]`), so a script that decodes
bytes (`atob`, `Uint8Array`, `String.fromCharCode`, `unescape`) counts as building a file too. The
payload may be cut into short string literals joined by `+` or by an array's `join`,
so adjacent literals are read joined before base64 runs and data: URIs are looked for;
or it may not be base64 at all: a list of byte values, `%XX`, `\\xXX` or `\\u00XX`
escapes count by the bytes they spell.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import Iterator

from policies.model import Part
from policies.pdf_files import Embedded

_HTML_NAMES = (".htm", ".html", ".xhtml", ".shtml", ".svg", ".mht", ".mhtml")
# The patterns below are matched against the lowercased bytes (same offsets, and far
# faster than re.IGNORECASE on bytes).
_HTML_HEAD = re.compile(rb"<(?:!doctype\s+html|html|head|body|script|svg|a\s|iframe)\b")
#: a data: URI whose type is not one a page shows inline (images, fonts, text, CSS).
_DATA_URI = re.compile(
    rb"data:(?!image/|font/|text/|application/font|application/x-font)"
    rb"([a-z0-9.+-]+/[a-z0-9.+-]+)?((?:;[a-z0-9=._+-]+)*),([a-z0-9+/=%_.~!$&*-]*)")
#: script that turns bytes into a file the browser saves or opens, or decodes the bytes
#: to build one from (when the saving call itself is spelt out of pieces).
_BUILDS_FILE_CALLS = (b"createobjecturl", b"mssaveoropenblob", b"mssaveblob", b"atob(",
                      b"uint8array", b"fromcharcode", b"unescape(")
#: each starts with a literal, so re's prefix search keeps them fast on large pages.
_BUILDS_FILE = (re.compile(rb"new\s+(?:blob|file)\s*\("), re.compile(rb"\.download\s*="),
                re.compile(rb"setattribute\s*\(\s*[\"']download"))
#: an <a> start tag: its attributes run to the next < or >, so the scans never overlap.
_A_TAG = re.compile(rb"<a\s[^<>]*")
_DOWNLOAD_ATTRIBUTE = re.compile(rb"\sdownload(?:\s|=|$)")
#: images and fonts inline in a page are not a payload, however large.
_INLINE_URI = re.compile(rb"data:(?:image|font)/[^,]{0,200},[a-z0-9+/=%]*")
#: base64 text in runs of at least this many characters counts towards a payload.
_BASE64_RUN = re.compile(rb"[a-z0-9+/]{64,}={0,2}")
#: this much base64 (in runs, possibly split into many strings) is a payload.
PAYLOAD_CHARS = 4096
#: the end of one string literal and the start of the next, joined by + or a comma:
#: removed, so a payload cut into short literals reads as one run.
_LITERAL_JOIN = re.compile(rb"[\"'`]\s*[+,]\s*[\"'`]")
#: bytes spelt as numbers ("77,90,144,..."), %XX, \xXX or \u00XX escapes: each run
#: of at least _MIN_SPELT counts by the bytes it spells, base64's four characters for
#: three bytes. Runs are matched whole and filtered after (a minimum count inside the
#: pattern would make the scan start over at every position of a short run), numbers
#: as one character class, escapes from their literal first character: both are fast
#: paths of Python's re.
_BYTE_RUNS = (re.compile(rb"[0-9][0-9,\s]*"), re.compile(rb"%[0-9a-f]{2}(?:%[0-9a-f]{2})*"),
              re.compile(rb"\\x[0-9a-f]{2}(?:\\x[0-9a-f]{2})*"),
              re.compile(rb"\\u00[0-9a-f]{2}(?:\\u00[0-9a-f]{2})*"))
_MIN_SPELT = 16
_MAX_URIS = 100


def is_html(part: Part) -> bool:
    """Whether the attachment `part` is HTML a browser would open (by name or content)."""
    if not part.is_attachment:
        return False
    if part.detection.type in ("text/html", "image/svg+xml"):
        return True
    name = (part.filename or "").lower().rstrip(". ")
    if name.endswith(_HTML_NAMES) or part.content_type.lower() in ("text/html",
                                                                    "image/svg+xml"):
        return True
    return part.detection.type == "text/plain" and bool(
        _HTML_HEAD.search(part.data[:4096].lower()))


def carries_data_files(part: Part) -> bool:
    """Whether the HTML attachment `part` holds `data:` URIs of application types."""
    return is_html(part) and _DATA_URI.search(_joined(part.data).lower()) is not None


def data_uri_files(data: bytes, max_size: int) -> Iterator[Embedded]:
    """The files in the application-typed `data:` URIs of the HTML `data` (string
    literals joined by + read joined)."""
    data = _joined(data)
    for count, m in enumerate(_DATA_URI.finditer(data.lower()), start=1):
        name = f"data-uri-{count}"
        if count > _MAX_URIS:
            yield Embedded("", None, ("archive-limits", f"more than {_MAX_URIS} data: URIs; "
                                      "the rest were not inspected"))
            return
        payload = data[m.start(3) : m.end(3)]  # the original case
        if len(payload) > 2 * max_size:
            yield Embedded(name, None, ("archive-limits", f"the data: URI {name} is larger "
                                        f"than {max_size} bytes; it was not inspected"))
            continue
        if b";base64" in m.group(2).lower():
            try:
                decoded = base64.b64decode(urllib.parse.unquote_to_bytes(payload) + b"==")
            except (binascii.Error, ValueError):
                decoded = payload
        else:
            decoded = urllib.parse.unquote_to_bytes(payload)
        yield Embedded(name, decoded)


def smuggling_signs(data: bytes) -> str | None:
    """What shows that the HTML `data` builds a file in the browser, or None: script (or
    a link) that saves a file or decodes bytes, together with a payload (a `data:` URI
    of an application type, or at least `PAYLOAD_CHARS` characters of base64 or bytes
    spelt otherwise to the same amount)."""
    data = _joined(data).lower()
    builds = next((call for call in _BUILDS_FILE_CALLS if call in data), None) or next(
        (m.group(0) for pattern in _BUILDS_FILE if (m := pattern.search(data))), None)
    if builds is not None:
        how = builds[:40].decode("ascii", "replace")
    elif any(_DOWNLOAD_ATTRIBUTE.search(tag.group(0)) for tag in _A_TAG.finditer(data)):
        how = "<a download>"
    else:
        return None
    if (uri := _DATA_URI.search(data)) is not None:
        kind = (uri.group(1) or b"no type").decode("ascii", "replace")
        return f"{how!r} with a data: URI of {kind}"
    text = _INLINE_URI.sub(b"", data)
    total = 0
    for run in _BASE64_RUN.finditer(text):
        total += len(run.group(0))
        if total >= PAYLOAD_CHARS:
            return f"{how!r} with more than {PAYLOAD_CHARS} characters of base64"
    spelt = sum(n for pattern in _BYTE_RUNS for run in pattern.finditer(text)
                if (n := _bytes_spelt(run.group(0))) >= _MIN_SPELT)
    if 4 * spelt // 3 >= PAYLOAD_CHARS:
        return f"{how!r} with {spelt} bytes spelt as numbers or escapes"
    return None


def _joined(data: bytes) -> bytes:
    """`data` with adjacent string literals joined (`"TVqQ" + "AAMA"` reads `"TVqQAAMA"`)."""
    return _LITERAL_JOIN.sub(b"", data) if b"+" in data or b"," in data else data


def _bytes_spelt(run: bytes) -> int:
    """How many bytes one run of numbers or escapes spells."""
    if run[:1].isdigit():
        return run.count(b",")
    return run.count(b"%") or run.count(b"\\")
