"""Who a message is from: the one reading of the From header that every stage uses.

:func:`read_from` reads the header block once and says either "this address" or
"ambiguous: why". The spoof guard, attribution, DMARC alignment, the signing identity,
the audit record and the report all take its :class:`FromVerdict`, so no two parts of
congvu can see two senders in the same bytes.

The address grammar is RFC 5322's without the obsolete syntax, with RFC 6532's UTF-8:
an optional display name (atoms, quoted strings, encoded words; dots allowed, as every
client writes them) and one ``local@domain`` in angle brackets, or a bare
``local@domain``; a comment may follow. Everything else is ambiguous: comments or
whitespace inside the address, a quoted local part (RFC 5321 section 4.1.2 advises
against them), a domain literal, several addresses or From fields, no From, a header
block that does not parse, a domain that IDNA's UTS #46 mapping or NFKC changes (ASCII
case aside: DNS ignores it), and a display name or comment that another reading
(:mod:`mailbase.ambiguity`) sees as an address in a provincial domain other than the
sender's.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import idna

from mailbase.addresses import Address, FromHeaderError
from mailbase.ambiguity import MAX_LENIENT, addresses_read, ascii_forms, from_like_values
from mailbase.header import HeaderBlock, HeaderField

# RFC 5321 section 4.5.3.1
_MAX_LOCAL = 64
_MAX_DOMAIN = 255
_MAX_LABEL = 63

_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~"
_UTF8 = "\u0080-\U0010ffff"
# possessive: a long display name that fails to match must not backtrack exponentially
_ATOM = rf"[{_ATEXT}{_UTF8}]++"
_WORD = rf'(?:[{_ATEXT}.{_UTF8}]++|"(?:[^"\\]|\\.)*+")'
_FROM = re.compile(
    rf"""[ \t]*
    (?:(?P<display>{_WORD}(?:[ \t]*+{_WORD})*+)?[ \t]*(?P<angle><))?
    (?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>[A-Za-z0-9\-{_UTF8}]++(?:\.[A-Za-z0-9\-{_UTF8}]++)*+)
    (?(angle)>)
    [ \t]*(?P<comment>\((?:[^()\\]|\\.)*\)[ \t]*)?""",
    re.VERBOSE,
)
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# full stops that IDNA's mapping (UTS #46) turns into "."
_DOT_LIKE = "\u3002\uff0e\uff61"
_LDH = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")


class ProvincialDomains:
    """The province's own domains, and every subdomain of one (ASCII, any case)."""

    def __init__(self, domains: Iterable[str] = ()) -> None:
        self.domains = frozenset(d.lower().rstrip(".") for d in domains if d)

    def covers(self, domain: str) -> bool:
        """Whether ``domain`` (ASCII) is one of the province's domains or under one."""
        labels = domain.lower().rstrip(".").split(".")
        return any(".".join(labels[i:]) in self.domains for i in range(len(labels)))


NO_DOMAINS = ProvincialDomains()


@dataclass(frozen=True, slots=True)
class FromVerdict:
    """The one reading of a message's From: an address, or why there is none.

    ``claims`` are the provincial domains that any reading of the From names (the
    address's own domain among them when it is provincial): an inbound message whose
    ambiguous From claims one is a forgery. ``claimed_addresses`` are the provincial
    addresses those readings name (local parts case-folded), to say which unit a
    forgery passed itself off as.
    """

    address: Address | None
    ambiguity: str | None = None
    claims: tuple[str, ...] = ()
    claimed_addresses: tuple[str, ...] = ()

    @property
    def is_ambiguous(self) -> bool:
        """Whether the From does not name exactly one address beyond doubt."""
        return self.address is None

    @property
    def domain(self) -> str | None:
        """The address's domain (ASCII), or None when ambiguous."""
        return None if self.address is None else self.address.domain

    @property
    def addr_spec(self) -> str | None:
        """``local@domain``, or None when ambiguous."""
        return None if self.address is None else self.address.addr_spec


@dataclass(frozen=True, slots=True)
class _Reading:
    """One From value read strictly, before knowing which domains are provincial."""

    address: Address | None
    why: str | None
    others: frozenset[tuple[str, str]]


def read_from(block: HeaderBlock, provincial: ProvincialDomains = NO_DOMAINS) -> FromVerdict:
    """The one verdict on who ``block``'s message is from (see the module docstring)."""
    values = block.values(b"from")
    if block.defects or len(values) != 1:
        why = (f"the header block is malformed: {block.defects[0]}" if block.defects
               else "the message has no From header" if not values
               else f"the message has {len(values)} From headers")
        return FromVerdict(None, why, *_claims(_every_from(block), provincial))
    reading = _read_value(HeaderField(b"From", values[0]).unfolded)
    claims, addresses = _claims([reading.others], provincial)
    if reading.address is None:
        return FromVerdict(None, reading.why, claims, addresses)
    own = (reading.address.local.casefold(), reading.address.domain)
    strangers = sorted(f"{local}@{domain}" for local, domain in reading.others
                       if (local, domain) != own and provincial.covers(domain))
    if strangers:
        return FromVerdict(None, f"the From header also reads as {strangers[0]}", claims,
                           addresses)
    return FromVerdict(reading.address, None, claims, addresses)


def _every_from(block: HeaderBlock) -> list[frozenset[tuple[str, str]]]:
    texts = [HeaderField(b"From", v).unfolded.decode("utf-8", "replace")
             for v in block.values(b"from")]
    texts += from_like_values(block.raw)
    return [addresses_read(text) for text in texts]


def _claims(readings: Iterable[frozenset[tuple[str, str]]],
            provincial: ProvincialDomains) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The provincial domains and addresses among what the readings found."""
    found = [(local, domain) for reading in readings for local, domain in reading
             if provincial.covers(domain)]
    return (tuple(sorted({domain for _, domain in found})),
            tuple(sorted({f"{local}@{domain}" for local, domain in found if local})))


@functools.lru_cache(maxsize=4096)
def _read_value(value: bytes) -> _Reading:
    """The strict reading of one unfolded From value, and what the others see."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        text = value.decode("utf-8", "replace")
        return _Reading(None, "the From header is not valid UTF-8", addresses_read(text))
    others = addresses_read(text)
    if len(text) > MAX_LENIENT:
        return _Reading(None, f"the From header is longer than {MAX_LENIENT} characters",
                        others)
    match = _FROM.fullmatch(text)
    if match is None:
        return _Reading(None, _why_not(text), others)
    local, domain = match.group("local"), match.group("domain")
    try:
        ascii_domain = _stable_domain(domain)
    except ValueError as exc:
        return _Reading(None, str(exc), others)
    if len(local.encode("utf-8")) > _MAX_LOCAL:
        return _Reading(None, "the From address's local part is longer than 64 octets", others)
    if unicodedata.normalize("NFKC", local) != local:
        return _Reading(None, f"the From address's local part {local!r} changes under NFKC",
                        others)
    display = (match.group("display") or "").strip()
    return _Reading(Address(local, ascii_domain, _display_text(display)), None, others)


def _why_not(text: str) -> str:
    """Why ``text`` is not one plain address, in words an administrator understands."""
    if not text.strip():
        return "the From header is empty"
    if "@" not in text:
        return "the From header holds no address outside encoded words" if "=?" in text \
            else "the From header holds no address"
    if "(" in text:
        return "the From header has a comment inside or around the address"
    if "@" in re.sub(r'"(?:[^"\\]|\\.)*"', "", text.partition("<")[0]) and "<" in text:
        return "the From display name holds an @ outside quotes (it reads as an address)"
    if "," in text or ";" in text:
        return "the From header names several addresses or a group"
    if re.search(r"\s@|@\s|\.\s|\s\.", text):
        return "the From header has whitespace inside the address"
    if re.search(r'"[^"]*"@', text):
        return "the From address has a quoted local part"
    if "[" in text:
        return "the From address has a domain literal"
    return "the From header does not follow RFC 5322 (obsolete or broken syntax)"


def _stable_domain(domain: str) -> str:
    """The ASCII form of ``domain`` when no mapping changes it.

    :raises ValueError: why the domain reads two ways or is not a valid domain.
    """
    labels = domain.split(".")
    out = []
    for label in labels:
        if label.isascii():
            lower = label.lower()
            if not _LDH.fullmatch(lower):
                raise ValueError(f"the From domain {domain!r} has an invalid label {label!r}")
            if lower.startswith("xn--"):
                try:
                    idna.decode(lower)
                except (idna.IDNAError, UnicodeError) as exc:
                    raise ValueError(f"the From domain {domain!r} has an invalid IDN "
                                     f"label: {exc}") from exc
            out.append(lower)
            continue
        label = label.translate(_ASCII_LOWER)
        if any(dot in label for dot in _DOT_LIKE):
            raise ValueError(f"the From domain {domain!r} has a character that IDNA reads "
                             f"as a dot (reads as {', '.join(sorted(ascii_forms(domain)))})")
        if unicodedata.normalize("NFKC", label) != label:
            raise ValueError(f"the From domain {domain!r} changes under NFKC "
                             f"(reads as {', '.join(sorted(ascii_forms(domain))) or '?'})")
        try:
            strict = idna.encode(label).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            mapped = ", ".join(sorted(ascii_forms(domain))) or "nothing valid"
            raise ValueError(f"the From domain {domain!r} is not a valid IDN: {exc} "
                             f"(IDNA mapping reads it as {mapped})") from exc
        out.append(strict)
    ascii_domain = ".".join(out)
    if len(ascii_domain) > _MAX_DOMAIN or any(len(label) > _MAX_LABEL for label in out):
        raise ValueError(f"the From domain {domain!r} is longer than DNS allows")
    return ascii_domain


def _display_text(display: str) -> str:
    """The display name as written, quotes removed (decoding is the record's job)."""
    if len(display) >= 2 and display.startswith('"') and display.endswith('"'):
        return re.sub(r"\\(.)", r"\1", display[1:-1])
    return display


def from_values_block(values: Iterable[str | bytes]) -> HeaderBlock:
    """A header block holding only these From values (for callers that have the
    values, not the message)."""
    return HeaderBlock(tuple(
        HeaderField(b"From", v if isinstance(v, bytes) else v.encode("utf-8"))
        for v in values))


def parse_from(values: Iterable[str]) -> Address:
    """The one sender named by a message's From header values (every From, in order),
    read by :func:`read_from`; for callers that need an address or an error.

    :raises FromHeaderError: the From is ambiguous; ``reason`` says why.
    """
    values = list(values)
    verdict = read_from(from_values_block(values))
    if verdict.address is None:
        raise FromHeaderError(verdict.ambiguity or "the From header is ambiguous",
                              count=len(values))
    return verdict.address
