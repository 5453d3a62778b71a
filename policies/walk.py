"""The MIME walk: every leaf of every nesting level, read at the bytes level.

multipart/* and message/rfc822 (and message/global) recurse; inline uuencoded
blocks in text bodies and TNEF (winmail.dat) attachments become leaves of their
own. Depth and part count are bounded. Nothing here raises on bad input: what
cannot be read cleanly becomes a `Defect`.

Where the structure depends on the program reading it, every reading is walked, so
the rules see the most dangerous one, and the disagreement is an ``ambiguous-mime``
defect naming the readings: duplicated Content-Type, Content-Transfer-Encoding or
Content-Disposition fields (the first and the last of each), and the other readings
of a boundary, media type, transfer encoding, name or charset that
:mod:`policies.ambiguity` finds (Python's email package, Dovecot); boundary lines
RFC 2046 refuses but Dovecot or Python take; a multipart or message/rfc822 whose
transfer encoding a reader may or may not undo. The work is bounded too: the bytes
scanned over all entities and readings may not exceed 16 times the message (plus
1 MB), whatever the nesting.

Every header block, the message's and each part's, is split by
:func:`mailbase.read_header`, the one splitter (the message's may be passed in, as
the milter read it at the door). Where that block reads two ways, its defects are
`malformed-mime` findings; and where a lenient reader (Python's email package, many
clients) would end the header early, at a line that is not a field or has white
space before its colon, what that reader takes for the body is inspected too, so
nothing it could show goes unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailbase import HeaderBlock, HeaderDefectKind, Reason, read_header
from policies import reasons
from policies.ambiguity import (
    Reading,
    charset_readings,
    describe,
    encoding_readings,
    filename_readings,
    media_type_readings,
    param_readings,
    parsed,
)
from policies.encodings import (
    TNEF_SIGNATURE,
    decode_base64,
    decode_qp,
    decode_uu_lines,
    find_uuencoded,
    read_tnef,
)
from policies.headers import Headers, mime_headers, param_values
from policies.model import Defect, Part

_IDENTITY = ("", "7bit", "8bit", "binary")
#: where a lenient reader ends a header block: a line that is no field, or a field name
#: followed by white space before its colon
_ENDS_HEADER = (HeaderDefectKind.STRAY_LINE, HeaderDefectKind.SPACE_BEFORE_COLON)
_PKCS7 = ("application/pkcs7-mime", "application/x-pkcs7-mime")


def signed_content(der: bytes) -> bytes | None:
    """The encapsulated content of a CMS SignedData (RFC 5652 5.1), or None."""
    from asn1crypto import cms

    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            return None
        content = info["content"]["encap_content_info"]["content"].native
    except (ValueError, TypeError, KeyError):
        return None
    return content if isinstance(content, bytes) else None


@dataclass(frozen=True, slots=True)
class WalkLimits:
    """How deep and how wide the walk goes before it stops and reports."""

    max_depth: int = 20
    max_parts: int = 1000


@dataclass(slots=True)
class Walk:
    """What the walk found: the leaves, and the defects with the part they concern."""

    parts: list[Part] = field(default_factory=list)
    defects: list[tuple[str, Defect]] = field(default_factory=list)
    #: S/MIME enveloped data or multipart/encrypted: the content cannot be seen.
    is_encrypted: bool = False
    #: the number of entities (containers and leaves) seen.
    entity_count: int = 0
    #: how deep the deepest entity read lies (0: the message itself), and how many more
    #: bytes the work bound would have let the walk read: how near the bounds it came
    #: (the pipeline's reading stands in for the archive's only well within them)
    depth: int = 0
    work_left: int = 0


def _join(path: str, index: int | str) -> str:
    return f"{path}.{index}" if path else str(index)


@dataclass(frozen=True, slots=True)
class _Place:
    """Where an entity stands in the message."""

    path: str
    depth: int
    #: where its bytes start in the raw message (None when decoded from a transfer
    #: encoding: there is nothing of it to strip in place)
    base: int | None
    #: the strippable raw range holding it
    span: tuple[int, int] | None
    #: whether it is a message/rfc822's (its single leaf is numbered below it)
    is_message: bool
    #: the boundaries of the multiparts around it
    boundaries: tuple[bytes, ...]

    def moved(self, base: int | None) -> _Place:
        """The same place with its bytes starting at ``base`` (dataclasses.replace is
        several times slower, and this runs for every entity)."""
        return _Place(self.path, self.depth, base, self.span, self.is_message, self.boundaries)

    def within(self, base: int | None) -> _Place:
        """The place of the message a message/rfc822 entity here holds."""
        return _Place(self.path, self.depth + 1, base, self.span, True, self.boundaries)


def _coded(reason: Reason | str) -> Reason | None:
    return reason if isinstance(reason, Reason) else None


class _Walker:
    def __init__(self, limits: WalkLimits, size: int) -> None:
        self.limits = limits
        self.result = Walk()
        self.is_over_parts = False
        self.work_left = 16 * size + (1 << 20)

    def defect(self, path: str, reason: Reason | str) -> None:
        """A malformed-mime finding at ``path``; a reader's own words (a decoder's, the
        TNEF or uuencode reader's) are kept as their English, without a code."""
        self.result.defects.append((path or "1", Defect("malformed-mime", str(reason),
                                                        _coded(reason))))

    def spend(self, size: int, path: str) -> bool:
        """Count reading ``size`` more bytes; False (and a defect, once) when the work
        bound is spent."""
        self.work_left -= size
        if self.work_left >= 0:
            return True
        if not self.is_over_parts:
            self.is_over_parts = True
            self.defect(path, reasons.MIME_TOO_COSTLY())
        return False

    def over_parts(self, path: str) -> None:
        """The part bound is reached: a defect, once."""
        if not self.is_over_parts:
            self.is_over_parts = True
            self.defect(path, reasons.MIME_TOO_MANY_PARTS(limit=self.limits.max_parts))

    def ambiguous(self, path: str, reason: Reason) -> None:
        """The structure reads two ways here: both are walked, and this is reported."""
        self.result.defects.append((path or "1", Defect.of("ambiguous-mime", reason)))

    def entity(self, data: bytes, at: _Place, header: HeaderBlock | None = None) -> None:
        """Read one entity (headers and body) found ``at`` a place; ``header`` is
        ``data``'s header block when it was already read."""
        path, depth = at.path, at.depth
        if self.result.entity_count >= self.limits.max_parts:
            self.over_parts(path)
            return
        self.result.entity_count += 1
        if not self.spend(len(data), path):
            return
        if depth > self.limits.max_depth:
            self.defect(path, reasons.MIME_TOO_DEEP(limit=self.limits.max_depth, part=path))
            return
        self.result.depth = max(self.result.depth, depth)
        if header is None:
            header = read_header(data)
        headers = self.headers(data, header, path)
        self.readings(headers, data[header.body_start:], at, offset=header.body_start)
        self.early_end(data, header, headers, at)

    def early_end(self, data: bytes, header: HeaderBlock, headers: Headers,
                  at: _Place) -> None:
        """Walk the entity as a reader that ends its header early reads it: Python's
        parser (and many clients) at a line that is no field or has white space before
        its colon; the rest is the body, under the fields before it."""
        defect = next((d for d in header.defects if d.kind in _ENDS_HEADER), None)
        if defect is None:
            return
        start = defect.offset
        why = (reasons.AMBIGUOUS_SPACE_BEFORE_COLON(line=defect.line)
               if defect.kind is HeaderDefectKind.SPACE_BEFORE_COLON else None)
        early = mime_headers(read_header(data[:start]))
        if why:
            # only where that changes the Content fields do the readers disagree on the
            # entity (a stray line is a malformed-mime finding of its own)
            if _content_fields(early) == _content_fields(headers):
                return
            self.ambiguous(at.path, why)
        self.work_left -= len(data) - start
        self.readings(early, data[start:], at, offset=start)

    def headers(self, data: bytes, header: HeaderBlock, path: str) -> Headers:
        """The MIME fields of one entity's header block, its defects recorded."""
        if path and len(header.raw) == len(data) and data.strip():
            self.defect(path, reasons.MIME_NO_BLANK_LINE())
        seen: set[HeaderDefectKind] = set()
        for defect in header.defects:  # one finding per kind: the first says where
            if defect.kind in seen or defect.kind is HeaderDefectKind.SPACE_BEFORE_COLON:
                continue
            seen.add(defect.kind)
            if defect.kind is HeaderDefectKind.STRAY_LINE:
                self.defect(path, reasons.MIME_NOT_A_FIELD())
            else:
                self.defect(path, reasons.MIME_HEADER_TWO_WAYS(detail=str(defect)))
        headers = mime_headers(header)
        for d in headers.defects:
            self.result.defects.append((path or "1", d))
        return headers

    def readings(self, headers: Headers, body: bytes, at: _Place, *, offset: int) -> None:
        """Walk `body` under every reading its headers allow (`offset`: where the body
        starts in the entity)."""
        path = at.path
        body_at = at if at.base is None else at.moved(at.base + offset)
        types = _first_last(_distinct(headers.all("content-type")))
        if len(types) > 1:
            self.ambiguous(path, reasons.AMBIGUOUS_TYPES(
                count=len(types), values=" / ".join(repr(t) for t in types)))
        encodings = encoding_readings(headers.all("content-transfer-encoding"))
        if len(encodings) > 1:
            self.ambiguous(path, describe("Content-Transfer-Encoding", encodings))
        dispositions = headers.all("content-disposition")
        if len(_distinct(dispositions)) > 1:
            self.ambiguous(path, reasons.AMBIGUOUS_DISPOSITIONS(values=" / ".join(
                repr(d) for d in _first_last(_distinct(dispositions)))))
        for reading in types or ["text/plain"]:
            for cte in [e.value for e in encodings] or [""]:
                self.reading(reading, cte, headers, dispositions, body, body_at)

    def reading(
        self,
        content_type: str,
        cte: str,
        headers: Headers,
        dispositions: list[str],
        body: bytes,
        at: _Place,
    ) -> None:
        path = at.path
        main, params, problems = parsed(content_type)
        for problem in problems:
            self.defect(path, reasons.MIME_TYPE_PROBLEM(detail=str(problem)))
        types = media_type_readings(main)
        if len(types) > 1:
            self.ambiguous(path, describe("the media type", types))
        for ctype in (t.value for t in types):
            self.typed(ctype, content_type, params, cte, headers, dispositions, body, at)

    def typed(
        self,
        ctype: str,
        content_type: str,
        params: tuple[tuple[str, str], ...],
        cte: str,
        headers: Headers,
        dispositions: list[str],
        body: bytes,
        at: _Place,
    ) -> None:
        """Walk ``body`` as the media type ``ctype`` (one reading of ``content_type``)."""
        path, base, span = at.path, at.base, at.span
        if ctype.count("/") != 1 or not ctype.split("/", 1)[1]:
            self.defect(path, reasons.MIME_NOT_TYPE_SUBTYPE(type=repr(ctype)))
            ctype = "application/octet-stream"
        maintype = ctype.split("/", 1)[0]
        smime_type = [v.lower() for v in param_values(list(params), "smime-type")]
        is_enveloped = ctype in _PKCS7 and any(
            v in ("enveloped-data", "authenveloped-data") for v in smime_type)
        if ctype == "multipart/encrypted" or is_enveloped:
            self.result.is_encrypted = True
        if maintype == "multipart":
            found = param_readings(content_type, "boundary", is_trimmed=True,
                                   is_literal=True)
            if not found:
                self.defect(path, reasons.MIME_NO_BOUNDARY(type=ctype))
            else:
                if any(not b.value for b in found):
                    self.defect(path, reasons.MIME_EMPTY_BOUNDARY())
                if len(found) > 1:
                    self.ambiguous(path, describe("the boundary parameter", found))
                readings: list[tuple[bytes, int | None]] = [(body, base)]
                decoded = None if cte in _IDENTITY else self.decoded_parts(
                    body, cte, found, path, base)
                if decoded is not None:
                    # (a quoted-printable multipart that decodes to the same parts, as some
                    # mailers send, is one reading)
                    self.ambiguous(path, reasons.AMBIGUOUS_ENCODED_MULTIPART(type=ctype,
                                                                             encoding=cte))
                    readings.append((decoded, None))
                for k, (content, content_base) in enumerate(readings):
                    for m, boundary in enumerate(found):
                        # each further reading scans the body again: that is work too
                        if (k or m) and not self.spend(len(content), path):
                            return
                        self.multipart(boundary.value.encode("utf-8", "replace"), content,
                                       at.moved(content_base))
                return
        if ctype in ("message/rfc822", "message/global"):
            if cte not in _IDENTITY:
                self.ambiguous(path, reasons.AMBIGUOUS_ENCODED_MESSAGE(type=ctype,
                                                                       encoding=cte))
            inner, inner_base = self.decode(body, cte, path, base)
            self.entity(inner, at.within(inner_base))
            return
        if ctype in _PKCS7 and not is_enveloped:
            # Opaque S/MIME signatures (RFC 8551 3.5.2) carry the whole signed entity
            # inside the CMS structure: read it there, or nothing would be inspected.
            der, _ = self.decode(body, cte, path, base)
            signed = signed_content(der)
            if signed is not None:
                self.entity(signed, at.within(None))
                return
            if "signed-data" in smime_type:
                self.defect(path, reasons.MIME_SMIME_UNREADABLE())
        self.leaf(ctype, content_type, cte, dispositions, body, base=base,
                  path=_join(path, 1) if (at.is_message or not path) else path, span=span)

    def multipart(self, boundary: bytes, body: bytes, at: _Place) -> None:
        path = at.path
        if any(b.startswith(boundary) or boundary.startswith(b) for b in at.boundaries):
            self.defect(path, reasons.MIME_NESTED_BOUNDARY())
        marker = b"--" + boundary
        cap = self.limits.max_parts + 1
        strict, lenient = _delimiters(body, marker, cap)
        if strict != lenient:
            # RFC 2046 5.1.1 allows only white space after a delimiter; Dovecot takes any
            # line that starts with it (trailing text, a longer boundary), Python ends a
            # line at a bare CR: the parts each of them sees are walked.
            self.ambiguous(path, reasons.AMBIGUOUS_DELIMITERS(strict=len(strict),
                                                              lenient=len(lenient)))
        if not strict and not lenient:
            self.defect(path, reasons.MIME_BOUNDARY_ABSENT())
        for delimiters in (strict, lenient) if strict != lenient else (strict,):
            if not delimiters:
                self.leaf("application/octet-stream", "", "", [], body, base=at.base,
                          path=_join(path, 1), span=at.span)
                continue
            self.parts(delimiters, boundary, body, at, is_capped=len(delimiters) >= cap)

    def decoded_parts(self, body: bytes, cte: str, found: list[Reading], path: str,
                      base: int | None) -> bytes | None:
        """A multipart body with ``cte`` undone, when that changes where any boundary's
        lines are, else None (each count is work: two scans per boundary)."""
        decoded = self.decode(body, cte, path, base)[0]
        for boundary in found:
            if not self.spend(len(body) + len(decoded), path):
                return None
            marker = b"--" + boundary.value.encode("utf-8", "replace")
            if decoded.count(marker) != body.count(marker):
                return decoded
        return None

    def parts(
        self,
        delimiters: list[tuple[int, int, bool]],
        boundary: bytes,
        body: bytes,
        at: _Place,
        *,
        is_capped: bool,
    ) -> None:
        """Walk the parts between ``delimiters`` (line start, after the line, is_close)."""
        path, base = at.path, at.base
        closes = [k for k, d in enumerate(delimiters) if d[2]]
        if not closes:
            if not is_capped:
                self.defect(path, reasons.MIME_NO_CLOSE())
        elif closes[0] != len(delimiters) - 1:
            self.defect(path, reasons.MIME_AFTER_CLOSE())
        index = 0
        nested = (*at.boundaries, boundary)
        for k, (_, after, is_close) in enumerate(delimiters):
            if is_close:
                continue
            stop = delimiters[k + 1][0] if k + 1 < len(delimiters) else len(body)
            # the line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
            if k + 1 < len(delimiters) and stop > after:
                stop -= 1
                if stop > after and body[stop - 1] == 0x0D and body[stop] == 0x0A:
                    stop -= 1
            stop = max(stop, after)
            index += 1
            child_base = None if base is None else base + after
            # strip removes the deepest part still in raw coordinates.
            child_span = (child_base, child_base + stop - after) if child_base is not None \
                else at.span
            self.entity(body[after:stop], _Place(_join(path, index), at.depth + 1, child_base,
                                                 child_span, False, nested))

    def decode(
        self, body: bytes, cte: str, path: str, base: int | None
    ) -> tuple[bytes, int | None]:
        if cte in _IDENTITY:
            return body, base
        if cte == "base64":
            data, problem = decode_base64(body)
        elif cte == "quoted-printable":
            data, problem = decode_qp(body), None
        elif cte in ("x-uuencode", "uuencode", "x-uue"):
            lines = body.splitlines()
            if lines and lines[0].startswith(b"begin"):
                lines = lines[1:]
            data, problem = decode_uu_lines([ln for ln in lines if ln != b"end"])
        else:
            data, unknown = body, reasons.MIME_UNKNOWN_ENCODING(encoding=repr(cte))
            self.defect(path, unknown)
            return data, None
        if problem:
            self.defect(path, problem)
        return data, None

    def leaf(
        self,
        ctype: str,
        content_type: str,
        cte: str,
        dispositions: list[str],
        body: bytes,
        *,
        base: int | None,
        path: str,
        span: tuple[int, int] | None,
    ) -> None:
        data, _ = self.decode(body, cte, path, base)
        is_attachment = False
        for disposition in dispositions:
            kind, _, problems = parsed(disposition)
            for problem in problems:
                self.defect(path, reasons.MIME_DISPOSITION_PROBLEM(detail=str(problem)))
            is_attachment = is_attachment or kind.strip().lower() == "attachment"
        # every name any reading gives is checked: the rules see the most dangerous one
        names = filename_readings(content_type, dispositions)
        if len(names.readings) > 1:
            self.ambiguous(path, describe("the attachment's name", names.readings))
        charsets = charset_readings(content_type)
        if len(charsets) > 1:
            self.ambiguous(path, describe("the charset", charsets))
        filenames = names.every
        part = Part(
            path=path, content_type=ctype, filenames=filenames, data=data, size=len(data),
            span=span, is_attachment=is_attachment or bool(filenames),
            charset=charsets[0].value if charsets else None,
        )
        self.result.parts.append(part)
        limit = max(0, self.limits.max_parts - len(self.result.parts))
        if ctype.startswith("text/"):
            # one block more than the bound allows tells that the bound cut some off
            blocks = find_uuencoded(data, limit=limit + 1)
            if len(blocks) > limit:
                del blocks[limit:]
                self.over_parts(path)
            for k, (uu_name, content, uu_problem) in enumerate(blocks, 1):
                if uu_problem:
                    self.defect(path, uu_problem)
                self.result.parts.append(Part(
                    path=f"{path}.uu{k}", content_type="application/octet-stream",
                    filenames=(uu_name,), data=content, size=len(content), span=span,
                    is_attachment=True,
                ))
        elif data.startswith(TNEF_SIGNATURE):
            found, tnef_problem = read_tnef(data, limit=limit)
            if tnef_problem:
                self.defect(path, tnef_problem)
            for k, (tnef_name, content) in enumerate(found, 1):
                self.result.parts.append(Part(
                    path=f"{path}.tnef{k}", content_type="application/octet-stream",
                    filenames=(tnef_name,) if tnef_name else (), data=content, size=len(content),
                    span=span, is_attachment=True,
                ))


def _delimiters(body: bytes, marker: bytes, cap: int
                ) -> tuple[list[tuple[int, int, bool]], list[tuple[int, int, bool]]]:
    """The delimiter lines of ``marker`` in ``body`` under two readings, each a list of
    (line start, after the line, is_close) of at most ``cap``. Strict (RFC 2046 5.1.1):
    at the start of a line after LF, followed by ``--`` or nothing, then only white
    space. Lenient: also after a bare CR (Python), and followed by anything (Dovecot)."""
    strict: list[tuple[int, int, bool]] = []
    lenient: list[tuple[int, int, bool]] = []
    pos = 0
    while len(lenient) < cap:
        i = body.find(marker, pos)
        if i < 0:
            break
        pos = i + 1
        before = body[i - 1] if i else 0x0A
        if before != 0x0A and before != 0x0D:
            continue
        j = i + len(marker)
        is_close = body[j : j + 2] == b"--"
        nl = body.find(b"\n", j)
        after = len(body) if nl < 0 else nl + 1
        if before == 0x0A and len(strict) < cap and not body[j + 2 * is_close : after].strip():
            strict.append((i, after, is_close))
        cr = body.find(b"\r", j, after)
        if cr >= 0 and body[cr + 1 : cr + 2] != b"\n":
            after = cr + 1  # a bare CR ends the line for Python
        lenient.append((i, after, is_close))
    return strict, lenient


def _content_fields(headers: Headers) -> dict[str, list[str]]:
    return {k: v for k, v in headers.fields.items() if k.startswith("content-")}


def _first_last(values: list[str]) -> list[str]:
    return values if len(values) <= 2 else [values[0], values[-1]]


def _distinct(values: list[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        key = " ".join(v.split()).lower()
        if all(" ".join(o.split()).lower() != key for o in out):
            out.append(v)
    return out


def walk(raw: bytes, limits: WalkLimits | None = None, *,
         header: HeaderBlock | None = None) -> Walk:
    """Walk the message `raw`: its leaves, with paths, names and decoded bytes.

    `header` is `raw`'s header block as :func:`mailbase.read_header` read it (the
    milter's reading from the door); it is read here when not given.

    :raises ValueError: `header` was read from other bytes.
    """
    if header is not None:
        header.body(raw)  # the misuse check: the block must be this message's
    walker = _Walker(limits or WalkLimits(), len(raw))
    walker.entity(raw, _Place("", 0, 0, None, False, ()), header)
    walker.result.work_left = walker.work_left
    return walker.result
