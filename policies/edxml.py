"""edXML packages (QCVN 102:2016): the document exchange's envelope, attached to mail.

The national document exchange (trục liên thông văn bản) carries each official
document as an edXML package: an XML file whose root is ``edXMLEnvelope`` in the
namespace ``http://www.mic.gov.vn/TBT/QCVN_102_2016``. Its header says which document
it is (``MessageHeader/DocumentId``), which agency sent it (``From/OrganId``, the
agency's electronic identifier code, e.g. ``000.00.00.H41``) and the document's number
and notation (``Code/CodeNumber``, ``Code/CodeNotation``: "123/UBND-VP"). Recording
them joins a mail's record to the exchange's.

Only the header is read: the package is streamed, stopped when the header ends (the
body carries the document itself, base64) or after :data:`MAX_HEADER_BYTES`; a DTD is
refused (no entity can expand).
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

NAMESPACE = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
ROOT = f"{{{NAMESPACE}}}edXMLEnvelope"
#: Where the root's name must show for a part to be parsed at all.
SNIFF_BYTES = 4096
#: How much of a package is read for its header, at most.
MAX_HEADER_BYTES = 1024 * 1024
#: How long a recorded value may be (an identifier, a number, a notation).
MAX_VALUE = 256

#: What is recorded, by the path of local names under the root that holds it.
_WANTED = {
    ("edXMLHeader", "MessageHeader", "DocumentId"): "document_id",
    ("edXMLHeader", "MessageHeader", "From", "OrganId"): "organ_id",
    ("edXMLHeader", "MessageHeader", "Code", "CodeNumber"): "code_number",
    ("edXMLHeader", "MessageHeader", "Code", "CodeNotation"): "code_notation",
}


@dataclass(frozen=True, slots=True)
class EdXml:
    """What an edXML package's header says of its document (None: not given)."""

    document_id: str | None = None
    organ_id: str | None = None
    code_number: str | None = None
    code_notation: str | None = None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def read_edxml(data: bytes) -> EdXml | None:
    """The header of the edXML package ``data``, or None when it is not one (another
    root, another namespace, no XML, a DTD)."""
    head = data[:SNIFF_BYTES]
    if b"edXMLEnvelope" not in head or b"<!DOCTYPE" in head.upper():
        return None
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    path: list[str] = []
    found: dict[str, str] = {}
    is_package = False
    try:
        for start in range(0, min(len(data), MAX_HEADER_BYTES), 64 * 1024):
            parser.feed(data[start:start + 64 * 1024])
            for found_event in parser.read_events():
                event, element = found_event[0], found_event[-1]
                if not isinstance(element, Element):
                    continue
                if event == "start":
                    if not path and element.tag != ROOT:
                        return None
                    is_package = True
                    path.append(_local(element.tag))
                    continue
                name = _WANTED.get(tuple(path[1:]))
                if name is not None and element.text and element.text.strip():
                    found.setdefault(name, element.text.strip()[:MAX_VALUE])
                path.pop()
                if len(path) == 1 and _local(element.tag) == "edXMLHeader":
                    return EdXml(**found)
                if len(path) > 2:
                    element.clear()
    except ParseError:
        pass  # a package cut short or broken after its root: what was read stands
    return EdXml(**found) if is_package else None
