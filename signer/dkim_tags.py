"""DKIM tag lists read against their grammar (RFC 6376 sections 3.2, 3.5 and 3.6.1).

A DKIM-Signature and a key record are tag=value lists, and every tag has a grammar of
its own. A value that does not fit its grammar is a syntax error and a permanent
failure (section 6.1.1), never something to repair or to half-read: a ``d=`` holding
``legitimate.example(.attacker.example`` is not "legitimate.example", and a reader
that took it for one would show a forger's signature as the legitimate domain's.

:func:`parse_signature` gives a :class:`Signature` of checked values or raises
:class:`DkimError` ``neutral`` (RFC 8601 section 2.7.1: a signature with syntax errors,
or one that uses what we do not support); :func:`parse_key_record` gives a
:class:`KeyRecord` or raises :class:`DkimError` ``permerror``. :func:`displayed` picks
out, from a signature that failed, only the values that fit their grammar, so a result
never names a domain that is not one.

Tag values may hold UTF-8 (RFC 8616 section 4 lets ``i=`` and ``z=`` carry it), but the
domain names of ``d=``, ``s=`` and ``i=`` are ASCII (A-labels), as RFC 6376 writes them.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from signer import reasons
from signer.canon import Canon
from signer.errors import DkimError
from signer.keys import Algorithm

_FOLD = re.compile(rb"\r?\n(?=[ \t])")
_TAG_SPEC = re.compile(rb"[ \t]*([A-Za-z][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*?)[ \t]*", re.DOTALL)
# tag-value: tval *( 1*(WSP / FWS) tval ); VALCHAR is %x21-3A / %x3C-7E, UTF-8 beside it
_VALCHARS = rb"[\x21-\x3a\x3c-\x7e\x80-\xff]+"
_VALUE = re.compile(rb"(?:%s(?:[ \t]+%s)*)?" % (_VALCHARS, _VALCHARS))
_WSP = re.compile(rb"[ \t]+")
_LABEL = re.compile(rb"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_HYPHENATED_WORD = re.compile(rb"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_ALGORITHM = re.compile(rb"[A-Za-z][A-Za-z0-9]*-[A-Za-z][A-Za-z0-9]*")
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_QP = re.compile(rb"(?:[\x21-\x3a\x3c\x3e-\x7e\x80-\xff]|=[0-9A-Fa-f]{2}|[ \t])*")
_HEX_OCTET = re.compile(rb"=([0-9A-Fa-f]{2})")
_ATOM = re.compile(rb"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\x80-\xff-]+")
_QUOTED = re.compile(rb'"(?:[\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\x20-\x7e])*"')
_DIGITS = {b"l": 76, b"t": 12, b"x": 12}

REQUIRED_TAGS = (b"v", b"a", b"b", b"bh", b"d", b"h", b"s")
"""The tags every DKIM-Signature must carry (RFC 6376 section 3.5)."""


@dataclass(frozen=True, slots=True)
class Signature:
    """A DKIM-Signature whose every tag fit its grammar.

    ``domain`` (``d=``) and ``selector`` (``s=``) are lower-case; ``identity`` is
    ``i=`` as written (``None`` when absent: RFC 6376 then means ``@`` + ``d=``);
    ``headers`` are ``h=``'s names, lower-case, in order.
    """

    tags: dict[bytes, bytes]
    algorithm: Algorithm
    header_canon: Canon
    body_canon: Canon
    domain: str
    selector: str
    identity: str | None
    headers: tuple[bytes, ...]
    length: int | None
    signed_at: int | None
    expires: int | None
    body_hash: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A DKIM key record whose every tag fit its grammar (RFC 6376 section 3.6.1).

    ``key_type`` is ``k=`` (``rsa`` when absent), ``public`` the decoded ``p=`` (empty:
    revoked); ``hashes``, ``services`` and ``flags`` are ``h=``, ``s=`` and ``t=``
    (``None`` when the tag is absent), lower-case.
    """

    key_type: str
    public: bytes
    hashes: frozenset[str] | None
    services: frozenset[str] | None
    flags: frozenset[str]


def parse_tag_list(value: bytes) -> dict[bytes, bytes]:
    """The tags of a tag-list (RFC 6376 section 3.2), folding removed, in order.

    :raises ValueError: the list does not fit the grammar (the message says where), or
        names a tag twice.
    """
    unfolded = _FOLD.sub(b"", value)
    if b"\r" in unfolded or b"\n" in unfolded:
        raise ValueError("a line break that is not folding white space")
    specs = unfolded.split(b";")
    if len(specs) > 1 and not specs[-1].strip(b" \t"):
        specs.pop()  # the optional ";" after the last tag
    tags: dict[bytes, bytes] = {}
    for spec in specs:
        match = _TAG_SPEC.fullmatch(spec)
        if match is None:
            raise ValueError(f"malformed tag list near {_shown(spec)}")
        name, tag_value = match.groups()
        if _VALUE.fullmatch(tag_value) is None:
            raise ValueError(f"malformed value of {name.decode()}=: {_shown(tag_value)}")
        if name in tags:
            raise ValueError(f"duplicate tag {_shown(name)}")
        tags[name] = tag_value
    return tags


def parse_signature(value: bytes) -> Signature:
    """A DKIM-Signature field's value read against the grammar of each of its tags.

    :raises DkimError: ``neutral``, with what is wrong: a malformed tag list, a
        required tag missing, a tag that does not fit its grammar, ``i=`` outside
        ``d=``, ``h=`` without From, ``x=`` before ``t=``, or what we do not support
        (``v=`` other than 1, an algorithm other than rsa-sha256 and ed25519-sha256, an
        unknown canonicalization, ``q=`` without dns/txt).
    """
    try:
        tags = parse_tag_list(value)
    except ValueError as exc:
        raise DkimError("neutral", reasons.DKIM_TAG_LIST(detail=str(exc))) from exc
    missing = [t.decode() for t in REQUIRED_TAGS if not tags.get(t)]
    if missing:
        raise DkimError("neutral", reasons.DKIM_MISSING_TAGS(tags=", ".join(missing)))
    if tags[b"v"] != b"1":
        raise DkimError("neutral", reasons.DKIM_VERSION(value=_shown(tags[b"v"])))
    domain = _domain(tags[b"d"], "d=")
    selector = _selector(tags[b"s"])
    identity = tags.get(b"i")
    if identity is not None:
        _check_identity(identity, domain)
    numbers = {name: _number(tags, name, digits) for name, digits in _DIGITS.items()}
    signed_at, expires = numbers[b"t"], numbers[b"x"]
    if expires is not None and signed_at is not None and expires < signed_at:
        raise DkimError("neutral", reasons.DKIM_EXPIRES_BEFORE())
    if b"q" in tags:
        _check_query_methods(tags[b"q"])
    if b"z" in tags:
        _check_copied_headers(tags[b"z"])
    header_canon, body_canon = _canonicalization(tags.get(b"c", b"simple/simple"))
    return Signature(
        tags=tags, algorithm=_algorithm(tags[b"a"]), header_canon=header_canon,
        body_canon=body_canon, domain=domain, selector=selector,
        identity=identity.decode("utf-8", "replace") if identity is not None else None,
        headers=_header_names(tags[b"h"]), length=numbers[b"l"], signed_at=signed_at,
        expires=expires, body_hash=_base64(tags[b"bh"], "bh="),
        signature=_base64(tags[b"b"], "b="))


def parse_key_record(record: bytes, name: str) -> KeyRecord:
    """A key record (TXT at ``name``) read against the grammar of each of its tags.

    :raises DkimError: ``permerror``: a malformed tag list, ``v=`` not first or not
        DKIM1, no ``p=``, a ``p=`` that is not base64, or an ``h=``, ``k=``, ``s=`` or
        ``t=`` that does not fit its grammar.
    """
    try:
        tags = parse_tag_list(record)
    except ValueError as exc:
        raise DkimError("permerror", reasons.DKIM_KEY_TAG_LIST(name=name, detail=str(exc))) from exc
    if b"v" in tags and (next(iter(tags)) != b"v" or tags[b"v"] != b"DKIM1"):
        raise DkimError("permerror", reasons.DKIM_KEY_NOT_DKIM1(name=name))
    if b"p" not in tags:
        raise DkimError("permerror", reasons.DKIM_KEY_NO_P(name=name))
    key_type = tags.get(b"k", b"rsa")
    if _HYPHENATED_WORD.fullmatch(key_type) is None:
        raise DkimError("permerror", reasons.DKIM_KEY_BAD_TAG(name=name, tag="k",
                                                         value=_shown(key_type)))
    public = b""
    if tags[b"p"]:
        public = _base64(tags[b"p"], "p=", key_record=name)
    return KeyRecord(
        key_type=key_type.decode("ascii").lower(), public=public,
        hashes=_word_list(tags, b"h", name, extra=b""),
        services=_word_list(tags, b"s", name, extra=b"*"),
        flags=_word_list(tags, b"t", name, extra=b"") or frozenset())


def displayed(tags: dict[bytes, bytes]) -> dict[str, str]:
    """The values a result may show of a signature that failed: ``d``, ``s``, ``a``,
    ``i`` and ``b``, each only when it fits its grammar (``i=`` only inside ``d=``).
    """
    shown: dict[str, str] = {}
    for name in (b"d", b"s", b"a", b"b"):
        value = tags.get(name)
        if value and _fits(name, value):
            shown[name.decode()] = _WSP.sub(b"", _FOLD.sub(b"", value)).decode("ascii")
    identity = tags.get(b"i")
    if identity is not None and "d" in shown:
        try:
            _check_identity(identity, shown["d"].lower())
        except DkimError:
            return shown
        shown["i"] = identity.decode("utf-8", "replace")
    return shown


def _fits(name: bytes, value: bytes) -> bool:
    if name == b"d":
        return is_domain_name(value)
    if name == b"a":
        return _ALGORITHM.fullmatch(value) is not None
    try:
        _selector(value) if name == b"s" else _base64(value, "b=")
    except DkimError:
        return False
    return True


def is_domain_name(value: bytes) -> bool:
    """RFC 6376's domain-name (RFC 5321 Domain less address literals): two or more LDH
    labels of at most 63 octets, at most 253 in all, no final dot."""
    labels = value.split(b".")
    return (len(labels) > 1 and len(value) <= 253
            and all(_LABEL.fullmatch(label) for label in labels))


def _domain(value: bytes, tag: str) -> str:
    if not is_domain_name(value):
        raise DkimError("neutral", reasons.DKIM_BAD_DOMAIN(tag=tag, value=_shown(value)))
    return value.decode("ascii").lower()


def _selector(value: bytes) -> str:
    # selector = sub-domain *( "." sub-domain ): one label or more
    if len(value) > 253 or not all(_LABEL.fullmatch(x) for x in value.split(b".")):
        raise DkimError("neutral", reasons.DKIM_BAD_SELECTOR(value=_shown(value)))
    return value.decode("ascii").lower()


def _check_identity(identity: bytes, domain: str) -> None:
    local, at, idomain = identity.rpartition(b"@")
    if not at:
        raise DkimError("neutral", reasons.DKIM_IDENTITY_NO_AT(value=_shown(identity)))
    if not is_domain_name(idomain):
        raise DkimError("neutral", reasons.DKIM_IDENTITY_DOMAIN(value=_shown(identity)))
    if local and not _is_local_part(local):
        raise DkimError("neutral", reasons.DKIM_IDENTITY_LOCAL(value=_shown(identity)))
    if not _in_domain(idomain, domain):
        raise DkimError("neutral", reasons.DKIM_IDENTITY_OUTSIDE())


def _in_domain(idomain: bytes, domain: str) -> bool:
    name = idomain.decode("ascii").lower()
    return name == domain or name.endswith("." + domain)


def _is_local_part(encoded: bytes) -> bool:
    """RFC 5321 Local-part (Dot-string or Quoted-string), after dkim-quoted-printable."""
    if _QP.fullmatch(encoded) is None or b" " in encoded or b"\t" in encoded:
        return False
    local = _HEX_OCTET.sub(lambda m: bytes([int(m.group(1), 16)]), encoded)
    if local.startswith(b'"'):
        return _QUOTED.fullmatch(local) is not None
    return all(_ATOM.fullmatch(atom) for atom in local.split(b"."))


def _number(tags: dict[bytes, bytes], name: bytes, digits: int) -> int | None:
    value = tags.get(name)
    if value is None:
        return None
    if not value.isdigit() or len(value) > digits:
        raise DkimError("neutral", reasons.DKIM_BAD_NUMBER(tag=name.decode(), digits=digits,
                                                      value=_shown(value)))
    return int(value)


def _algorithm(value: bytes) -> Algorithm:
    if _ALGORITHM.fullmatch(value) is None:
        raise DkimError("neutral", reasons.DKIM_BAD_ALGORITHM(value=_shown(value)))
    if value.lower() == b"rsa-sha1":
        raise DkimError("neutral", reasons.DKIM_RSA_SHA1())
    try:
        return Algorithm(value.decode("ascii").lower())
    except ValueError as exc:
        raise DkimError("neutral", reasons.DKIM_UNKNOWN_ALGORITHM(value=_shown(value))) from exc


def _canonicalization(value: bytes) -> tuple[Canon, Canon]:
    header_text, slash, body_text = value.partition(b"/")
    words = [header_text, body_text] if slash else [header_text]
    if not all(_HYPHENATED_WORD.fullmatch(w) for w in words):
        raise DkimError("neutral", reasons.DKIM_BAD_CANON(value=_shown(value)))
    try:
        return (Canon(header_text.decode("ascii").lower()),
                Canon((body_text or b"simple").decode("ascii").lower()))
    except ValueError as exc:
        raise DkimError("neutral", reasons.DKIM_UNKNOWN_CANON(value=_shown(value))) from exc


def _header_names(value: bytes) -> tuple[bytes, ...]:
    names = [n.strip(b" \t") for n in value.split(b":")]
    if not all(_FIELD_NAME.fullmatch(n) for n in names):
        raise DkimError("neutral", reasons.DKIM_BAD_HEADER_LIST(value=_shown(value)))
    lowered = tuple(n.lower() for n in names)
    if b"from" not in lowered:
        raise DkimError("neutral", reasons.DKIM_FROM_NOT_SIGNED())
    return lowered


def _check_query_methods(value: bytes) -> None:
    methods = [m.strip(b" \t") for m in value.split(b":")]
    for method in methods:
        kind, _, args = method.partition(b"/")
        if _HYPHENATED_WORD.fullmatch(kind) is None or _QP.fullmatch(args) is None:
            raise DkimError("neutral", reasons.DKIM_BAD_QUERY(value=_shown(value)))
    if b"dns/txt" not in (m.lower() for m in methods):
        raise DkimError("neutral", reasons.DKIM_UNKNOWN_QUERY(value=_shown(value)))


def _check_copied_headers(value: bytes) -> None:
    for copy in value.split(b"|"):
        name, colon, rest = copy.lstrip(b" \t").partition(b":")
        if not colon or _FIELD_NAME.fullmatch(name.rstrip(b" \t")) is None \
                or _QP.fullmatch(rest) is None:
            raise DkimError("neutral", reasons.DKIM_BAD_COPIED(value=_shown(copy)))


def _base64(value: bytes, tag: str, *, key_record: str | None = None) -> bytes:
    """``value`` decoded: a signature's ``tag`` (``neutral`` when it is not base64), or
    the ``p=`` of the key record named ``key_record`` (``permerror``)."""
    packed = _WSP.sub(b"", value)
    try:
        if _BASE64.fullmatch(packed) is None:
            raise ValueError(_shown(value))
        return base64.b64decode(packed, validate=True)
    except (binascii.Error, ValueError) as exc:
        if key_record is not None:
            raise DkimError("permerror", reasons.DKIM_KEY_NOT_BASE64(
                name=key_record, value=str(exc))) from exc
        raise DkimError("neutral", reasons.DKIM_NOT_BASE64(tag=tag, value=str(exc))) from exc


def _word_list(tags: dict[bytes, bytes], tag: bytes, name: str,
               *, extra: bytes) -> frozenset[str] | None:
    """A colon-separated list of hyphenated words (``extra``: one more word allowed)."""
    value = tags.get(tag)
    if value is None:
        return None
    words = [w.strip(b" \t") for w in value.split(b":")]
    if not all(_HYPHENATED_WORD.fullmatch(w) or (extra and w == extra) for w in words):
        raise DkimError("permerror", reasons.DKIM_KEY_BAD_TAG(name=name, tag=tag.decode(),
                                                         value=_shown(value)))
    return frozenset(w.decode("ascii").lower() for w in words)


def _shown(value: bytes) -> str:
    return repr(value[:60].decode("utf-8", "replace"))
