"""The MIME walk: paths, filenames, decoded bytes, spans, defects and limits."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mailbase import read_header
from policies.headers import param_values, split_params
from policies.model import Defect
from policies.walk import WalkLimits, walk

VN = "Công văn số 123.pdf"


def _message() -> bytes:
    m = EmailMessage()
    m["From"] = "a@example.gov.vn"
    m.set_content("xin chao")
    m.add_attachment(b"%PDF-1.4 x", maintype="application", subtype="pdf", filename=VN)
    inner = EmailMessage()
    inner.set_content("inner")
    inner.add_attachment(b"MZ", maintype="application", subtype="octet-stream", filename="a.exe")
    m.add_attachment(inner)
    return m.as_bytes()


def test_paths_names_and_bytes() -> None:
    found = walk(_message())
    assert [(p.path, p.content_type, p.filenames) for p in found.parts] == [
        ("1", "text/plain", ()),
        ("2", "application/pdf", (VN,)),
        ("3.1", "text/plain", ()),
        ("3.2", "application/octet-stream", ("a.exe",)),
    ]
    assert found.parts[1].data == b"%PDF-1.4 x"
    assert found.parts[1].size == 10
    assert found.defects == []


def test_spans_cover_each_part_in_the_raw_bytes() -> None:
    raw = _message()
    for part in walk(raw).parts:
        assert part.span is not None
        start, end = part.span
        assert raw[start:end].lower().startswith(b"content-type:")


def test_single_part_message_is_part_one() -> None:
    found = walk(b"Subject: x\r\n\r\nhello\r\n")
    assert [(p.path, p.content_type, p.data) for p in found.parts] == [
        ("1", "text/plain", b"hello\r\n")
    ]


def test_rfc2231_continuations_with_a_split_character() -> None:
    _, params, problems = split_params(
        "attachment; filename*0*=utf-8''C%C3; filename*1*=%B4ng%20v%C4%83n.pdf")
    assert problems == []
    assert param_values(params, "filename") == ["Công văn.pdf"]


def test_rfc2047_and_plain_names_are_all_kept() -> None:
    _, params, _ = split_params(
        'attachment; filename="=?utf-8?b?Q8O0bmcgdsSDbi5wZGY=?="; filename*=utf-8\'\'x.exe')
    assert param_values(params, "filename") == ["x.exe", "Công văn.pdf"]


def test_bad_charset_falls_back_to_latin1() -> None:
    _, params, _ = split_params("attachment; filename*=x-nonsense''caf%E9.pdf")
    assert param_values(params, "filename") == ["café.pdf"]


def test_unterminated_quote_is_a_problem_not_an_error() -> None:
    main, params, problems = split_params('attachment; filename="abc')
    assert main == "attachment"
    assert params == [("filename", "abc")]
    assert problems


def test_depth_limit_is_a_defect() -> None:
    body = "Content-Type: text/plain\r\n\r\nhi"
    for k in range(30):
        body = f'Content-Type: multipart/mixed; boundary="b{k}"\r\n\r\n--b{k}\r\n{body}\r\n--b{k}--'
    found = walk(body.encode(), WalkLimits(max_depth=10))
    assert any("deeper than 10" in d.reason for _, d in found.defects)


def test_part_limit_is_a_defect() -> None:
    parts = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(50))
    raw = f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'.encode()
    found = walk(raw, WalkLimits(max_parts=10))
    assert len(found.parts) < 10
    assert any("more than 10 MIME parts" in d.reason for _, d in found.defects)


def test_both_readings_of_a_duplicated_content_type_are_walked() -> None:
    raw = (b"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
           b"--z\r\nContent-Type: application/x-foo\r\n\r\nx\r\n--z--\r\n")
    found = walk(raw)
    assert {p.content_type for p in found.parts} == {"text/plain", "application/x-foo"}
    assert any("Content-Type" in d.reason for _, d in found.defects)


def test_uuencoded_block_becomes_a_leaf() -> None:
    raw = b"Content-Type: text/plain\r\n\r\nhi\r\nbegin 644 a.bin\r\n#86)C\r\n`\r\nend\r\n"
    found = walk(raw)
    assert [(p.path, p.filenames, p.data) for p in found.parts][1] == ("1.uu1", ("a.bin",), b"abc")


def test_lf_only_messages_are_walked() -> None:
    raw = _message().replace(b"\r\n", b"\n")
    assert [p.path for p in walk(raw).parts] == ["1", "2", "3.1", "3.2"]


def test_a_flood_of_boundary_lines_is_bounded() -> None:
    raw = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + b"--b\r\n" * 200_000
    found = walk(raw)
    assert found.entity_count <= 1000
    assert any("more than 1000 MIME parts" in d.reason for _, d in found.defects)


def test_repeated_readings_are_bounded() -> None:
    # every level has two Content-Type readings: without a bound this is 2**20 walks.
    body = "Content-Type: text/plain\r\n\r\n" + "x" * 1000
    for k in range(20):
        body = (f'Content-Type: multipart/mixed; boundary="a{k}"\r\n'
                f'Content-Type: multipart/mixed; boundary="c{k}"\r\n\r\n'
                f"--a{k}\r\n{body}\r\n--a{k}--\r\n--c{k}\r\n{body[:50]}\r\n--c{k}--\r\n")
    found = walk(body.encode()[:2_000_000])
    assert found.entity_count <= 1000
    assert found.defects


def test_many_content_type_headers_use_first_and_last() -> None:
    raw = b"".join(b"Content-Type: text/x-%d\r\n" % k for k in range(500)) + b"\r\nhi"
    assert {p.content_type for p in walk(raw).parts} == {"text/x-0", "text/x-499"}


def test_every_name_the_stdlib_sees_we_see_too() -> None:
    """Differential check against `email.policy.default` on the whole corpus."""
    import email
    from email import policy as email_policy

    from .conftest import corpus_module as cm

    for name, (make, _, _) in cm.CASES.items():
        if "1000" in name or "too-many" in name or "not-utf8" in name or "opaque" in name:
            continue
        raw = make()
        ours = {f for p in walk(raw).parts for f in p.filenames}
        theirs = {str(p.get_filename()) for p in
                  email.message_from_bytes(raw, policy=email_policy.default).walk()
                  if p.get_filename()}
        assert theirs <= ours, name


# -- the header blocks come from mailbase's one splitter; a second reading is inspected


def test_the_doors_header_block_is_used_not_read_again() -> None:
    raw = _message()
    door = read_header(raw)
    assert walk(raw, header=door).parts == walk(raw).parts
    # a block read from other bytes is not this message's
    with pytest.raises(ValueError, match="not read from these bytes"):
        walk(raw, header=read_header(b"Subject: other\r\n\r\nx"))


def test_what_a_lenient_reader_takes_for_the_body_is_inspected_too() -> None:
    # Python's parser and many clients end the header at "not a field" and show the rest
    # as text; the one reading takes the Content-Type after it. Both are walked, so the
    # uuencoded program the lenient reader shows is a leaf the rules see.
    uu = b"begin 644 run.exe\r\n#35H`\r\n`\r\nend\r\n"
    raw = (b"From: a@example.gov.vn\r\nnot a field\r\n" + uu
           + b"Content-Type: text/plain\r\n\r\nhello\r\n")
    found = walk(raw)
    assert ("1", Defect("malformed-mime", "a line in the header block is not a header field")) \
        in found.defects
    names = [p.filenames for p in found.parts]
    assert ("run.exe",) in names
    assert next(p.data for p in found.parts if p.path == "1") == b"hello\r\n"


def test_a_part_without_a_blank_line_is_read_both_ways() -> None:
    raw = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
           b"--b\r\nhello world\r\n--b--\r\n")
    found = walk(raw)
    assert [(p.path, p.data) for p in found.parts] == [("1", b""), ("1", b"hello world")]
    reasons = [d.reason for _, d in found.defects]
    assert "the part has no blank line after its headers" in reasons


@pytest.mark.parametrize(("header", "words"), [
    (b"Content-Type: text/plain\0; name=x.exe\r\n", "NUL"),
    (b" Content-Type: application/x-msdownload\r\n", "continues a field"),
    (b"Content-Type: text/plain\rContent-Disposition: attachment\r\n", "bare CR"),
])
def test_a_part_header_that_reads_two_ways_is_malformed(header: bytes, words: str) -> None:
    raw = (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" + header
           + b"\r\nbody\r\n--b--\r\n")
    reasons = [d.reason for path, d in walk(raw).defects if path == "1"]
    assert any(r.startswith("the header block reads two ways") and words in r
               for r in reasons), reasons


def test_a_flood_of_stray_header_lines_is_one_finding() -> None:
    raw = b"From: a@example.gov.vn\r\n" + b"x\r\n" * 30_000 + b"\r\nbody\r\n"
    reasons = [d.reason for _, d in walk(raw).defects]
    assert reasons.count("a line in the header block is not a header field") == 1


# -- no way for content to skip inspection: encodings, missing and odd boundary lines

PE = b"MZ\x90\x00" + b"\x00" * 60 + b"PE\x00\x00" + b"\x00" * 200


def _pe_part(cte: str, encoded: bytes) -> bytes:
    return (b'Content-Type: application/octet-stream; name="a.dat"\r\n'
            b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n\r\n" + encoded)


@pytest.mark.parametrize("cte", ["BASE64", "Base64", " base64 "])
def test_a_transfer_encoding_in_any_case_is_decoded(cte: str) -> None:
    import base64

    [part] = walk(_pe_part(cte, base64.encodebytes(PE))).parts
    assert part.data == PE


@pytest.mark.parametrize("cte", ["QUOTED-PRINTABLE", "Quoted-Printable"])
def test_quoted_printable_in_any_case_is_decoded(cte: str) -> None:
    import binascii

    [part] = walk(_pe_part(cte, binascii.b2a_qp(PE, istext=False))).parts
    assert part.data == PE


@pytest.mark.parametrize("cte", ["x-uuencode", "X-UUENCODE", "uuencode", "x-uue"])
def test_a_uuencoded_transfer_encoding_is_decoded(cte: str) -> None:
    import binascii

    lines = b"".join(binascii.b2a_uu(PE[k : k + 45]) for k in range(0, len(PE), 45))
    found = walk(_pe_part(cte, b"begin 644 a.dat\n" + lines + b"`\nend\n"))
    [part] = found.parts
    assert part.data == PE
    assert found.defects == []


def test_a_multipart_whose_boundary_never_occurs_is_one_inspected_leaf() -> None:
    body = b"--other\r\nContent-Type: text/plain\r\n\r\nhello\r\n--other--\r\n"
    found = walk(b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' + body)
    assert [(p.path, p.content_type, p.data) for p in found.parts] == [
        ("1", "application/octet-stream", body)]
    assert ("1", Defect("malformed-mime", "the multipart boundary never occurs in the body")) \
        in found.defects


_PART = (b'Content-Type: application/octet-stream; name="run.exe"\r\n'
         b"Content-Transfer-Encoding: base64\r\n\r\n")


@pytest.mark.parametrize("delimiter", [
    b"\r\n--b junk\r\n",  # trailing text: Dovecot takes the line, RFC 2046 does not
    b"\r\n--bcd\r\n",  # a longer boundary: Dovecot takes it as this one
    b"\r--b\r\n",  # after a bare CR: Python's parser takes it as a line of its own
])
def test_a_boundary_line_only_some_readers_take_is_walked_both_ways(delimiter: bytes) -> None:
    import base64

    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain\r\n\r\nhello" + delimiter + _PART
           + base64.encodebytes(PE) + b"--b--\r\n")
    found = walk(raw)
    # the RFC 2046 reading: one text part holding everything
    assert found.parts[0].path == "1" and found.parts[0].data.startswith(b"hello")
    # the lenient reading: the program is a part of its own, decoded
    assert [(p.path, p.filenames, p.data) for p in found.parts[1:]] == [
        ("1", (), b"hello"), ("2", ("run.exe",), PE)]
    [(path, defect)] = [(p, d) for p, d in found.defects if d.kind == "ambiguous-mime"]
    assert path == "1" and defect.reason.startswith(
        "boundary lines read two ways: 2 delimiter lines by RFC 2046, 3 for a reader")


def test_a_boundary_in_the_middle_of_a_line_is_no_delimiter_for_anyone() -> None:
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain\r\n\r\nsee --b here\r\n--b--\r\n")
    found = walk(raw)
    assert [(p.path, p.data) for p in found.parts] == [("1", b"see --b here")]
    assert found.defects == []


def test_white_space_after_a_delimiter_is_transport_padding_not_ambiguity() -> None:
    raw = (b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b \t\r\n'
           b"Content-Type: text/plain\r\n\r\nhi\r\n--b--  \r\n")
    found = walk(raw)
    assert [(p.path, p.data) for p in found.parts] == [("1", b"hi")]
    assert found.defects == []


def test_a_comment_after_the_subtype_is_one_reading() -> None:
    raw = (b'Content-Type: multipart/mixed (generated); boundary="b"\r\n\r\n--b\r\n'
           b"Content-Type: text/plain (note)\r\n\r\nhi\r\n--b--\r\n")
    found = walk(raw)
    assert [(p.path, p.content_type, p.data) for p in found.parts] == [("1", "text/plain", b"hi")]
    assert found.defects == []


def test_a_space_around_the_slash_is_two_readings() -> None:
    raw = (b'Content-Type: multipart / mixed; boundary="b"\r\n\r\n--b\r\n'
           b'Content-Type: application/octet-stream; name="run.exe"\r\n\r\nMZ\r\n--b--\r\n')
    found = walk(raw)
    assert [(p.path, p.content_type, p.filenames) for p in found.parts] == [
        ("1", "multipart / mixed", ()), ("1", "application/octet-stream", ("run.exe",))]
    [(_, defect)] = found.defects
    assert defect == Defect("ambiguous-mime", "the media type reads 2 ways, so mail programs "
                            "disagree on the message: 'multipart / mixed' (as written) / "
                            "'multipart/mixed' (without comments and white space)")


def test_white_space_before_a_colon_is_ambiguous_only_where_it_moves_a_content_field() -> None:
    # Python ends the header at "Subject :"; Dovecot reads on. With the Content-Type
    # after it, the two disagree on the part; with none, they do not.
    moved = b"Subject : x\r\nContent-Type: application/x-msdownload\r\n\r\nMZ"
    found = walk(moved)
    assert [(p.content_type, p.data) for p in found.parts] == [
        ("application/x-msdownload", b"MZ"),
        ("text/plain", moved)]  # the line itself is the first line of Python's body
    assert [d.kind for _, d in found.defects] == ["ambiguous-mime"]
    plain = walk(b"Subject : x\r\nMIME-Version: 1.0\r\n\r\nhello")
    assert [p.data for p in plain.parts] == [b"hello"]
    assert plain.defects == []


def test_a_flood_of_boundary_readings_is_bounded() -> None:
    # every value is a reading whose lines are looked for: the scans count against the
    # walk's work bound like the parts they find
    params = "".join(f'; boundary="b{k}"' for k in range(2000))
    raw = (f"Content-Type: multipart/mixed{params}\r\n\r\n".encode()
           + b"x" * 1_000_000 + b"\r\n--b1999\r\n\r\nhi\r\n--b1999--\r\n")
    found = walk(raw)
    reasons = [d.reason for _, d in found.defects]
    assert reasons[0].startswith("the boundary parameter reads 2000 ways")
    assert reasons[0].endswith("'b3' (repeated boundary=) / 1996 more")  # the record is bounded
    assert "the MIME structure is too costly to inspect (repeated readings of the same " \
        "bytes); the rest was not inspected" in reasons


def test_an_empty_boundary_is_walked_as_python_and_dovecot_read_it() -> None:
    # both take every line starting with "--" as a delimiter; the walk saw no multipart
    raw = (b'Content-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n'
           b"Content-Type: text/plain\r\n\r\nhi\r\n--\r\n" + _PART
           + b"TVqQAA==\r\n----\r\n")
    found = walk(raw)
    assert [(p.path, p.filenames, p.data) for p in found.parts] == [
        ("1", (), b"hi"), ("2", ("run.exe",), b"MZ\x90\x00")]
    assert [d.reason for _, d in found.defects] == [
        "an empty boundary parameter (RFC 2046 5.1.1: 1 to 70 characters); Python and "
        "Dovecot take every line starting with -- as a delimiter"]


def test_a_quoted_printable_multipart_with_the_same_parts_is_one_reading() -> None:
    # some mailers label a whole multipart quoted-printable: decoded or not, its
    # delimiters are the same, so readers agree on the parts
    raw = (b'Content-Type: multipart/alternative; boundary="b"\r\n'
           b"Content-Transfer-Encoding: quoted-printable\r\n\r\n--b\r\n"
           b"Content-Type: text/plain\r\n\r\na =3D b\r\n--b--\r\n")
    found = walk(raw)
    assert [(p.path, p.data) for p in found.parts] == [("1", b"a =3D b")]
    assert found.defects == []


def test_a_flood_of_boundary_readings_in_an_encoded_multipart_is_bounded() -> None:
    import base64

    params = "".join(f'; boundary="b{k}"' for k in range(2000))
    raw = (f"Content-Type: multipart/mixed{params}\r\nContent-Transfer-Encoding: base64"
           "\r\n\r\n").encode() + base64.encodebytes(b"x" * 750_000)
    reasons = [d.reason for _, d in walk(raw).defects]
    assert "the MIME structure is too costly to inspect (repeated readings of the same " \
        "bytes); the rest was not inspected" in reasons


def test_twenty_levels_of_one_reading_each_stay_within_the_work_bound() -> None:
    # only further readings count as extra work: a deep but plain message is read whole
    body = b"Content-Type: text/plain\r\n\r\n" + b"x" * 200_000
    for k in range(19):
        body = (b'Content-Type: multipart/mixed; boundary="b%02d"\r\n\r\n--b%02d\r\n' % (k, k)
                + body + b"\r\n--b%02d--\r\n" % k)
    found = walk(body)
    assert found.defects == []
    assert [p.path for p in found.parts] == [".".join(["1"] * 19)]
