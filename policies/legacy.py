"""Vietnamese text typed in a legacy font encoding (TCVN3, VNI) instead of Unicode.

Before Unicode (TCVN 6909:2001, required of official documents), Vietnamese was typed
with fonts that drew Vietnamese letters in the places of Western ones: TCVN3 (ABC,
the ``.Vn`` fonts) puts each accented letter on one code (``ViÖt Nam``), VNI writes a
base letter followed by a mark (``Vieät Nam``). Pasted into mail, the text arrives as
those Western characters, unreadable without the font. Nothing in the bytes names the
encoding, so it is recognised by its shape:

- words that hold a character Vietnamese never uses (``µ``, ``Ö``, ``§`` ... for
  TCVN3; ``ø``, ``û``, ``ï``, ``ä``, ``ö``, ``ñ`` ..., or a vowel followed by a mark in
  a pair Unicode Vietnamese never writes, for VNI) make up at least :data:`MIN_SHARE`
  of the words with non-ASCII letters, and there are at least :data:`MIN_WORDS` of
  them;
- and there are plain-ASCII words (acronyms aside), most of which read as Vietnamese
  syllables (an initial consonant, a vowel group, a final consonant), which German,
  French or English text does not.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class LegacyEncoding(StrEnum):
    """A pre-Unicode Vietnamese font encoding."""

    TCVN3 = "TCVN3"
    VNI = "VNI"


#: At least this many words must look legacy-encoded...
MIN_WORDS = 3
#: ... and be this share of the words holding non-ASCII letters...
MIN_SHARE = 0.5
#: ... and this share of the plain-ASCII words must read as Vietnamese syllables.
MIN_SYLLABLES = 0.7

# Characters of the Latin-1 block that Unicode Vietnamese never writes: TCVN3's codes
# for its accented letters (and its Đ, §), and VNI's marks after a base letter.
_TCVN3 = frozenset(
    "\xb5\xb8\xb6\xb7\xb9\xa8\xbb\xbe\xbc\xbd\xa9\xae\xaa\xab\xac\xa7\xa1\xa2\xa3\xa4"
    "\xa5\xa6\xc6\xc7\xcb\xce\xcf\xd0\xd6\xd7\xd8\xdc\xde\xdf\xe6\xe7\xeb\xee\xfe\xf7")
_VNI = frozenset("øûïäåöñÑØÛÏÄÅÖ")
#: VNI's marks after a vowel where Unicode Vietnamese never writes that pair (``aâ`` is
#: VNI's â, ``aê`` its ă, ``oâ`` its ô, ``eä`` its ệ ...)
_VNI_AFTER_VOWEL = re.compile(r"[aeiouy][ùõ]|a[âêàáã]|e[âàáã]|oâ", re.IGNORECASE)
# The quick count of _fewer_marks, over the text's Latin-1 characters (every legacy
# character is one) as bytes, where deleting and lower-casing are single table lookups.
_NOT_MARKS = bytes(sorted(set(range(256)) - {ord(c) for c in _TCVN3 | _VNI}))
_LATIN1_LOWER = bytes(ord(chr(b).lower()) if len(chr(b).lower()) == 1 and
                      ord(chr(b).lower()) < 256 else b for b in range(256))
_VNI_PAIRS = re.compile("|".join(
    [*(v + m for v in "aeiouy" for m in "ùõ"), *("a" + m for m in "âêàáã"),
     *("e" + m for m in "âàáã"), "oâ"]).encode("latin-1"))
#: what re.IGNORECASE matches to i but is not Latin-1
_ODD_I = ("\u0131", "\u0130")
_WORD = re.compile(r"[^\s\d.,;:!?()\[\]{}\"'“”/\\|<>=+*&^%$#@~`_-]+")
_SYLLABLE = re.compile(
    r"(?:b|c|ch|d|g|gh|gi|h|k|kh|l|m|n|ng|ngh|nh|p|ph|qu|r|s|t|th|tr|v|x)?"
    r"[aeiouy]{1,3}(?:c|ch|m|n|ng|nh|p|t)?")


def legacy_encoding(text: str) -> LegacyEncoding | None:
    """The legacy encoding ``text`` looks typed in, or None (Unicode, or not Vietnamese)."""
    text = unicodedata.normalize("NFC", text)
    if _fewer_marks(text):
        return None
    words = _WORD.findall(text)
    tcvn3 = vni = marked = 0
    plain = syllables = 0
    for word in words:
        if word.isascii():
            if len(word) > 1 and word.isalpha() and not word.isupper():  # UBND: an acronym
                plain += 1
                syllables += bool(_SYLLABLE.fullmatch(word.lower()))
            continue
        marked += 1
        if _TCVN3.intersection(word):
            tcvn3 += 1
        elif _VNI.intersection(word) or _VNI_AFTER_VOWEL.search(word):
            vni += 1
    legacy = tcvn3 + vni
    if legacy < MIN_WORDS or legacy < MIN_SHARE * marked:
        return None
    if not plain or syllables < MIN_SYLLABLES * plain:
        return None
    return LegacyEncoding.TCVN3 if tcvn3 >= vni else LegacyEncoding.VNI


def _fewer_marks(text: str) -> bool:
    """Whether ``text`` surely has fewer than MIN_WORDS legacy words, told without a loop
    over its words: each legacy word holds a legacy character or a VNI pair (both
    Latin-1), which ASCII mail never has and Unicode Vietnamese almost never. Characters
    outside Latin-1 are dropped first, which can only join more pairs. False means: look
    closer."""
    if text.isascii():
        return True
    if any(odd in text for odd in _ODD_I):
        return False
    latin1 = text.encode("latin-1", "ignore")
    marks = len(latin1.translate(None, _NOT_MARKS))
    marks += len(_VNI_PAIRS.findall(latin1.translate(_LATIN1_LOWER)))
    return marks < MIN_WORDS
