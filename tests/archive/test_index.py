"""The archive's text index on both backends: what a message's text is (the one walk of
its parts), the words kept, queries that are never FTS or tsquery syntax, rows written
with the batch that stores the message, removed by prune, rebuilt by the command, off
by default when messages are encrypted, and an index that cannot be written refusing
no mail."""

from __future__ import annotations

import logging
import re
import sqlite3
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from archive import Archive, index_words, parse_query
from archive.index import INDEX_MAX, QUERY_MAX, SqliteTextIndex, folded
from archive.store import IN_FLIGHT
from mailbase import fold
from policies import searchable_text
from support.documents import plain_pdf

from .test_backends import Backend, Site, sha
from .test_prune import NOW


def letter() -> bytes:
    """A letter with every kind of text the index reads."""
    mail = EmailMessage(policy=SMTP)
    mail["From"] = "Nguyễn Văn Ân <an.nguyen@stc.lamdong.gov.vn>"
    mail["To"] = "Văn thư UBND <vanthu@ubnd.lamdong.gov.vn>"
    mail["Cc"] = "Sở Nội vụ <snv@lamdong.gov.vn>"
    mail["Subject"] = "Sở Tài chính: dự toán ngân sách 2027"
    mail.set_content("Kính gửi UBND tỉnh,\nĐề nghị phê duyệt kế hoạch thu chi.\n")
    mail.add_alternative("<html><head><style>p {color: red}</style></head><body><p>Bảng "
                         "<b>tổng hợp</b></p><script>var an = 'kichban';</script>"
                         "<p>quý&nbsp;IV</p></body></html>", subtype="html")
    mail.add_attachment(plain_pdf(text="Quyet toan dac biet"), maintype="application",
                        subtype="pdf", filename="Quyết toán.pdf")
    mail.add_attachment(b"\x00\x01", maintype="application", subtype="octet-stream",
                        filename="Phụ lục 3.xlsx")
    return mail.as_bytes()


LETTER = letter()  # its boundaries are random: made once


@pytest.fixture(params=["directory", pytest.param("postgresql", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The store suite's two backends (tests/archive/test_backends.py)."""
    if request.param == "directory":
        return Backend(tmp_path, None)
    return Backend(tmp_path, request.getfixturevalue("postgres_url"))


def indexed(backend: Backend, **values: object) -> Archive:
    """The backend's archive as the filter opens it: with the reader of text."""
    return Archive.from_config(backend.config(**values), create=True,
                               reader=searchable_text)


def find(archive: Archive, query: str, names: list[str]) -> set[str]:
    assert archive.index is not None
    return archive.index.matching(parse_query(query), names)


# -- the text and the words -----------------------------------------------------------

def test_the_text_is_the_subject_people_names_parts_and_pdfs_read_with_the_walk() -> None:
    text = searchable_text(LETTER)
    lines = text.split("\n")
    assert lines[:4] == ["Sở Tài chính: dự toán ngân sách 2027",
                         "Nguyễn Văn Ân <an.nguyen@stc.lamdong.gov.vn>",
                         "Văn thư UBND <vanthu@ubnd.lamdong.gov.vn>",
                         "Sở Nội vụ <snv@lamdong.gov.vn>"]
    assert lines[4:6] == ["Quyết toán.pdf", "Phụ lục 3.xlsx"]
    assert "Đề nghị phê duyệt kế hoạch thu chi." in text
    assert "tổng hợp" in text and "quý\xa0IV" in text  # the HTML as a reader sees it
    assert "kichban" not in text and "color" not in text  # no script, no style sheet
    assert "Quyet toan dac biet" in text  # the PDF's text
    assert "Quyet toan" not in searchable_text(LETTER, pdf_max=100)  # too large a PDF
    assert searchable_text(LETTER, limit=20) == "Sở Tài chính: dự toá"


def test_odd_messages_are_read_as_a_person_would_and_never_raise() -> None:
    odd = (b"Subject: =?utf-8?b?QsOhbyBjw6FvIHF1w70gSVY=?=\r\n"
           b"MIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nStra\xdfe Caf\xe9\r\n"
           b"--b\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
           b"\xc4\x90\xc3\xa0 N\xe1\xba\xb5ng\r\n"
           b"--b\r\nContent-Type: text/plain; charset=rot13\r\n\r\nnot rotated\r\n"
           b"--b\r\nContent-Type: text/html\r\n\r\n<p>unclosed <b attr='\r\n"
           b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"bm90IGEgUERG\r\n--b--\r\n")
    # the subject decoded, a latin-1 part, an unknown charset and a codec that is no
    # text codec read as UTF-8, a tag never closed kept as text, a PDF that is none
    # read as nothing
    assert searchable_text(odd).split("\n") == [
        "Báo cáo quý IV", "Straße Café", "Đà Nẵng", "not rotated", "unclosed <b attr='"]
    for garbage in (b"", b"\r\n\r\n", b"\xff\xfe\x00", b"Subject: x\r\n" * 5000):
        assert isinstance(searchable_text(garbage), str)


def test_words_are_folded_runs_of_letters_and_digits_cut_at_their_bound() -> None:
    for text in ("Sở Tài chính ĐÀ NẴNG", "Straße Ωμέγα 中文 ǅ ﬁ İstanbul", "x\u20d0y Ⅻ ①",
                 "Cafe\u0301 ĐẠI", ""):
        assert folded(text) == fold(text), text  # the quick fold is mailbase's
    assert index_words("Sở Tài chính, ĐÀ NẴNG: a.b@x.vn_2027") == (
        "so tai chinh da nang a b x vn 2027")
    assert index_words("base64 " + "A" * 65 + " end") == "base64 end"
    words = index_words("chữ " * 40_000)
    assert len(words.encode()) <= INDEX_MAX and words.startswith("chu chu")


@pytest.mark.parametrize("text", [
    "La de da de da 1.\r\nLa de da 2.\r\n", "a.b@x.vn_2027 UPPER Mixed\tTab\x00nul\x7f~",
    "x" * 64 + " " + "y" * 65 + "," + "z" * 64, "  ,,  __  ", "", "=?utf-8?q?=C3=A1?=",
    "base64: " + "QUJD" * 40 + "\r\n" + "QUJD" * 16, "".join(map(chr, range(128))) * 3])
def test_ascii_text_has_the_words_the_unicode_reading_gives(text: str) -> None:
    # ASCII text is cut into words in C: the same words as the regular expression every
    # other text is read with
    runs = re.findall(r"[^\W_]+", fold(text))
    assert index_words(text) == " ".join(w for w in runs if len(w) <= 64)


@pytest.mark.parametrize("length", [63, 64, 65, 66, 97, 98, 128])
@pytest.mark.parametrize("before", [0, 1, 2, 31, 32, 33, 64, 65, 96])
def test_a_run_over_64_is_left_out_wherever_it_starts(length: int, before: int) -> None:
    # runs too long are looked for a block of 33 octets at a time: one that straddles
    # the blocks' edges at any offset is found and left out
    head = ("ab " * 40)[:before].rstrip()
    text = f"{head} {'q' * length}, tail"
    kept = [w for w in f"{head} {'q' * length} tail".split() if len(w) <= 64]
    assert index_words(text) == " ".join(kept)
    assert ("q" * length in index_words(text)) is (length <= 64)


def test_queries_quote_every_word_and_refuse_what_has_none() -> None:
    query = parse_query('Sở "tài  chính" a.b@x.vn NEAR(x* AND ^y) -z:')
    assert query.phrases == (("so",), ("tai",), ("chinh",), ("a", "b", "x", "vn"),
                             ("near", "x"), ("and",), ("y",), ("z",))
    assert query.fts5() == ('"so"* AND "tai"* AND "chinh"* AND "a b x vn"* AND "near x"* '
                            'AND "and"* AND "y"* AND "z"*')
    assert parse_query("a.b chinh").tsquery() == "('a' <-> 'b':*) & ('chinh':*)"
    assert parse_query("x x X").phrases == (("x",),)
    for bad, why in (("", "no words"), ("  \t", "no words"), ('"*^()-:', "no words"),
                     ("x" * (QUERY_MAX + 1), "at most 1,000"),
                     (" ".join(f"w{n}" for n in range(33)), "at most 32")):
        with pytest.raises(ValueError, match=why):
            parse_query(bad)
    assert parse_query("tai chinh").matches("so tai chinhsach")
    assert not parse_query("ai").matches("so tai chinh")  # a word's start, not its middle
    assert not parse_query("a.b").matches("a c b")  # a phrase, not scattered words


# -- on both backends -------------------------------------------------------------------

def test_a_message_is_indexed_when_stored_and_found_without_diacritics(
        backend: Backend) -> None:
    archive = indexed(backend)
    assert archive.index is not None
    other = b"Subject: Lich hop giao ban\r\n\r\nSo Giao duc moi hop.\r\n"
    outcomes = archive.put_many([LETTER, other, LETTER])
    names = [sha(LETTER), sha(other)]
    assert [getattr(o, "sha256", o) for o in outcomes] == [names[0], names[1], names[0]]
    assert archive.index.indexed([*names, "0" * 64]) == set(names)
    for query, found in (("so tai chinh", {names[0]}), ("SỞ TÀI CHÍNH", {names[0]}),
                         ("an.nguyen@stc.lamdong.gov.vn", {names[0]}),
                         ("Nguyen Van An", {names[0]}), ("phu luc", {names[0]}),
                         ("tong hop quy iv", {names[0]}), ("dac biet", {names[0]}),
                         ("ngan sach giao ban", set()), ("kichban", set()),
                         ("so", set(names)), ("giao ban", {names[1]}),
                         ('"so" OR giao* NEAR(', set()), ("hop", set(names))):
        assert find(archive, query, names) == found, query
    assert find(archive, "so", names[1:]) == {names[1]}  # only the names asked about
    later = archive.put(b"Subject: so moi\r\n\r\nx\r\n").sha256  # indexed since
    assert find(archive, "so", [*names, later]) == {*names, later}
    if backend.url is None:
        assert (backend.tmp / "archive" / "index.sqlite3").stat().st_mode & 0o777 == 0o600
    else:  # the words were written with the batch that stored the message
        rows = backend._sql("SELECT o.stored_at = t.indexed_at FROM archive.objects o "
                            "JOIN archive.texts t USING (sha256)", ())
        assert rows == [(True,)] * 3


def test_the_index_names_every_match_and_counts_the_names_it_lacks(
        backend: Backend) -> None:
    archive = indexed(backend)
    assert archive.index is not None
    other = b"Subject: Lich hop giao ban\r\n\r\nSo Giao duc moi hop.\r\n"
    archive.put_many([LETTER, other])
    names = [sha(LETTER), sha(other)]
    unindexed = backend.open().put(b"Subject: so chua lap chi muc\r\n\r\nx\r\n").sha256
    for query, found in (("so tai chinh", {names[0]}), ("SỞ TÀI CHÍNH", {names[0]}),
                         ("so", set(names)), ("giao ban", {names[1]}),
                         ("ngan sach giao ban", set()), ("khongcotrongthu", set()),
                         ("chua lap", set())):
        assert archive.index.found(parse_query(query), 2) == found, query
    # more than asked for: none named (the console then asks about its scope instead)
    assert archive.index.found(parse_query("so"), 1) is None
    assert archive.index.found(parse_query("hop"), 0) is None
    assert archive.index.lacking([]) == 0
    assert archive.index.lacking(names) == 0
    # each name once: a message two records name is one message the index lacks
    assert archive.index.lacking([unindexed, names[0], unindexed, "0" * 64]) == 2


def test_prune_removes_the_words_of_what_it_removes_only(backend: Backend) -> None:
    archive = indexed(backend)
    assert archive.index is not None
    gone, kept = archive.put(LETTER).sha256, archive.put(b"Subject: so\r\n\r\nx\r\n").sha256
    read_at = NOW.timestamp()
    backend.age(gone, read_at - IN_FLIGHT - 60)
    done = dict(archive.remove_unused([gone, kept], records_read_at=read_at))
    assert [r.value for r in done.values()] == ["removed", "in use"]
    assert archive.index.indexed([gone, kept]) == {kept}
    assert find(archive, "so", [gone, kept]) == {kept}


def test_the_rebuild_indexes_what_was_archived_before_and_sweeps_what_is_gone(
        backend: Backend) -> None:
    site = Site(backend)  # its archive stores without a reader: nothing indexed
    records = [site.relayed(f"Báo cáo số {n}", years_ago=0.1, to="snv") for n in range(3)]
    names = [name for _, name in records]
    reader = indexed(backend)
    assert reader.index is not None and reader.index.indexed(names) == set()
    built = site.congvu("archive", "index", "rebuild")
    assert built.exit_code == 0, built.output
    assert built.stdout.startswith("indexed 3 archived message(s) (0 indexed already, "
                                   "0 unreadable); removed 0 row(s)")
    assert find(reader, "bao cao so 1", names) == {names[1]}
    again = site.congvu("archive", "index", "rebuild")
    assert again.stdout.startswith("indexed 0 archived message(s) (3 indexed already")
    everything = site.congvu("archive", "index", "rebuild", "--all")
    assert everything.stdout.startswith("indexed 3 archived message(s) (0 indexed already")
    backend.replace(names[0], b"not zstd")
    reader.index.remove([names[0]])
    if backend.url is None:  # a row a failed removal left: the rebuild sweeps it
        reader.index.add([("f" * 64, "orphan")])
    broken = site.congvu("archive", "index", "rebuild")
    assert broken.exit_code == 1
    assert f"unreadable {names[0]}: archived message {names[0]}" in broken.stdout
    assert "0 indexed" not in broken.stdout and "(2 indexed already, 1 unreadable)" in (
        broken.stdout)
    if backend.url is None:
        assert "removed 1 row(s)" in broken.stdout
        assert reader.index.indexed(["f" * 64]) == set()


def test_encrypted_archives_keep_no_index_unless_asked(backend: Backend) -> None:
    assert indexed(backend, encrypt=True).index is None
    sealed = indexed(backend, encrypt=True, index=True)
    assert sealed.index is not None
    name = sealed.put(LETTER).sha256
    assert find(sealed, "so tai chinh", [name]) == {name}
    assert indexed(backend, index=False).index is None
    site = Site(backend)
    site.config.write_text(site.config.read_text().replace("[archive]\n",
                                                           "[archive]\nencrypt = true\n"))
    off = site.congvu("archive", "index", "rebuild")
    assert off.exit_code == 2 and "index is off" in off.output


def test_the_index_merges_sixteen_segments_at_a_time_made_before_or_now(
        tmp_path: Path) -> None:
    # an index made before the setting (FTS5's 4) takes it when the filter opens it
    path = tmp_path / "index.sqlite3"
    with sqlite3.connect(path) as made_before:
        for statement in SqliteTextIndex.SCHEMA[:2]:
            made_before.execute(statement)
    for _ in range(2):  # and keeps it, each time
        SqliteTextIndex(path).create()
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT v FROM texts_config WHERE k = 'automerge'"
                                ).fetchall() == [(16,)]


def test_an_index_that_cannot_be_written_refuses_no_mail(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "archive"
    Archive.open(root)
    (root / "index.sqlite3").write_bytes(b"not a database, and never one" * 100)
    archive = Archive(root, index=SqliteTextIndex(root / "index.sqlite3"),
                      reader=searchable_text)
    with caplog.at_level(logging.ERROR, logger="congvu.archive"):
        stored = archive.put(LETTER)
    assert archive.get(stored.sha256) == LETTER
    assert "archive-index-failed: 1 message(s) archived but not indexed" in caplog.text
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(root / "index.sqlite3").execute("SELECT 1 FROM messages")
