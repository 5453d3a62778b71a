"""legacy-encoding: Vietnamese typed in TCVN3 or VNI fonts is noted; Unicode Vietnamese
and Western languages are not."""

from __future__ import annotations

import unicodedata
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from policies import Action, PoliciesConfig, decide, legacy
from policies.legacy import LegacyEncoding, legacy_encoding

#: "Cộng hoà xã hội chủ nghĩa Việt Nam / Độc lập - Tự do - Hạnh phúc", as the two legacy
#: fonts store it (the national motto heads every official document)
TCVN3 = "Céng hoµ x· héi chñ nghÜa ViÖt Nam\n§éc lËp - Tù do - H¹nh phóc"
VNI = "Coäng hoøa xaõ hoäi chuû nghóa Vieät Nam\nÑoäc laäp - Töï do - Haïnh phuùc"


@pytest.mark.parametrize(("text", "found"), [
    (TCVN3, LegacyEncoding.TCVN3),
    (VNI, LegacyEncoding.VNI),
    ("Kính göûi: UBND tænh Laøo Cai veà vieäc baùo caùo", LegacyEncoding.VNI),
    ("Cộng hoà xã hội chủ nghĩa Việt Nam\nĐộc lập - Tự do - Hạnh phúc", None),
    ("Über die Straße für Müller in Köln und der Gemeinde Böblingen", None),
    ("Où est la bibliothèque? Je suis très content, à bientôt, déjà vu, garçon", None),
    ("Sehr geehrte Damen und Herren, anbei finden Sie die Unterlagen", None),
    ("ViÖt Nam", None),  # too little to tell
    ("", None),
])
def test_legacy_text_is_recognised_by_its_shape(text: str,
                                                found: LegacyEncoding | None) -> None:
    assert legacy_encoding(text) == found


def message(subject: str, body: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = "vanthu@stc.laocai.gov.vn", "ubnd@laocai.gov.vn"
    msg["Subject"] = subject
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


@pytest.mark.parametrize("direction", ["outbound", "inbound"])
def test_the_rule_notes_the_subject_and_the_body(direction: str) -> None:
    decision = decide(message("Coâng vaên veà vieäc baùo caùo tình hình naêm nay", VNI),
                      PoliciesConfig().resolve(["stc"], direction))
    assert [(v.rule, v.reason) for v in decision.violations] == [
        ("legacy-encoding", "the subject is typed in VNI, not Unicode"),
        ("legacy-encoding", "the text is typed in VNI, not Unicode")]
    assert decision.action is Action.TAG


def test_unicode_mail_is_not_noted() -> None:
    decision = decide(message("Công văn về việc báo cáo", "Kính gửi các đơn vị."),
                      PoliciesConfig().resolve(["stc"], "outbound"))
    assert decision.violations == () or not decision.violations


@pytest.mark.parametrize(("legacy_words", "found"), [(2, None), (3, LegacyEncoding.TCVN3)])
def test_three_legacy_words_are_the_least_that_tell(legacy_words: int,
                                                    found: LegacyEncoding | None) -> None:
    """Plain-ASCII Vietnamese syllables around a few TCVN3 words: two are too few to tell
    (the quick scan that answers most mail must not cut this short), three are enough."""
    words = ["ViÖt", "hoµ", "§éc"][:legacy_words]
    text = "cong van gui cac don vi trong tinh lam dong " + " ".join(words)
    assert legacy_encoding(text) == found


def test_a_long_ascii_or_unicode_text_is_not_legacy() -> None:
    assert legacy_encoding("Kinh gui cac don vi. " * 2000) is None
    assert legacy_encoding("Kính gửi các đơn vị, đề nghị báo cáo tình hình. " * 2000) is None


def _legacy_words(text: str) -> int:
    """The words legacy_encoding counts as legacy, by its definition, one at a time."""
    words = legacy._WORD.findall(unicodedata.normalize("NFC", text))
    return sum(1 for word in words if not word.isascii() and (
        legacy._TCVN3.intersection(word) or legacy._VNI.intersection(word)
        or legacy._VNI_AFTER_VOWEL.search(word)))


@example("t\u0131ù h\u0130ù n\u0131õ")  # dotted and dotless i: IGNORECASE makes them i
@given(st.text(alphabet="aeiouyAEIOUY tnhg\u0131\u0130ùõâêàáãÙÕÂÊÀÁÃµÖ§øûïäÑđơưệ", max_size=60))
def test_the_quick_scan_never_hides_three_legacy_words(text: str) -> None:
    """The scan that answers most mail without a loop over words only says "fewer than
    three" when there are."""
    if legacy._fewer_marks(unicodedata.normalize("NFC", text)):
        assert _legacy_words(text) < legacy.MIN_WORDS
