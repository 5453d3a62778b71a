"""Archived messages in the console, through the real web app: a grant of content lets
its user download a message of the granted units with its proof and search their
text; anyone else is refused and nothing is read; every download and search is an
``archive-read`` event naming the user, written before anything is shown."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import zipfile
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from archive import Archive
from archive.proof import check_bundle
from audit import AuditLog
from congvu.cli import main
from policies import searchable_text
from support.audit import make_record
from support.documents import plain_pdf
from support.webconsole import DOMAIN, client, login, users_of


def message(sender: str, subject: str, body: str, pdf_text: str | None = None) -> bytes:
    mail = EmailMessage(policy=SMTP)
    mail["From"], mail["To"] = sender, f"vanthu@ubnd.{DOMAIN}"
    mail["Subject"], mail["Message-ID"] = subject, f"<{abs(hash(subject))}@{DOMAIN}>"
    mail.set_content(body)
    if pdf_text is not None:
        mail.add_attachment(plain_pdf(text=pdf_text), maintype="application",
                            subtype="pdf", filename="Quyết toán.pdf")
    return mail.as_bytes()


STC_MAIL = message(f"vanthu@stc.{DOMAIN}", "Công văn về ngân sách năm 2027",
                   "Kính gửi UBND tỉnh,\nSở Tài chính trình kế hoạch thu chi.\n",
                   pdf_text="Quyet toan dac biet")
SGD_MAIL = message(f"vanthu@sgd.{DOMAIN}", "Lịch họp giao ban",
                   "Sở Giáo dục mời họp giao ban ngân sách.\n")


@pytest.fixture
def archived(env: Any) -> dict[str, int]:
    """The two messages archived (and indexed, as the filter stores them) and recorded
    (stc's and sgd's, both to ubnd); stc's auditor granted its content, sgd's only its
    log."""
    store = Archive.from_config(env.config.archive, create=True, reader=searchable_text)
    ids = {}
    with AuditLog.open(env.config.audit) as log:
        for unit, raw, subject in (("stc", STC_MAIL, "Công văn về ngân sách năm 2027"),
                                   ("sgd", SGD_MAIL, "Lịch họp giao ban")):
            stored = store.put(raw)
            ids[unit] = log.record(make_record(
                sender_unit=unit, envelope_sender=f"vanthu@{unit}.{DOMAIN}",
                subject=subject, archived_sha256=stored.sha256))
    with users_of(env.settings) as users:
        users.grant("auditor-a", "stc", content=True)
    return ids


def reads(env: Any) -> list[dict[str, Any]]:
    """The archive-read events, oldest first."""
    with AuditLog.open_readonly(env.config.audit.path) as log:
        return list(reversed(log.admin_events(kind="archive-read")))


def signed_in(env: Any, user: str) -> Any:
    console = client(env.settings)
    login(console, user)
    return console


def test_a_content_grant_downloads_the_message_with_a_proof_that_checks(
        env: Any, archived: dict[str, int], tmp_path: Path) -> None:
    rid = archived["stc"]
    got = signed_in(env, "auditor-a").get(f"/audit/records/{rid}/archived.zip")
    assert got.status_code == 200, got.text
    assert got.headers["content-disposition"] == f'attachment; filename="congvu-{rid}.zip"'
    with zipfile.ZipFile(io.BytesIO(got.content)) as bundle:
        assert bundle.read(f"{rid}/{rid}.eml") == STC_MAIL  # the bytes as relayed
        bundle.extractall(tmp_path)
    problems, _signer = check_bundle(tmp_path / str(rid))
    assert problems == []
    [event] = reads(env)
    assert (event["actor"], event["target"], event["unit_id"]) == ("auditor-a", str(rid), "stc")
    assert event["details"]["action"] == "download"
    assert event["details"]["sha256"] == Archive.open(env.config.archive.path).put(
        STC_MAIL).sha256


def test_without_a_grant_of_content_nothing_is_read_or_recorded(
        env: Any, archived: dict[str, int]) -> None:
    # sgd's auditor sees sgd's record in the log, but not its content
    auditor_b = signed_in(env, "auditor-b")
    assert auditor_b.get(f"/audit/records/{archived['sgd']}").status_code == 200
    refused = auditor_b.get(f"/audit/records/{archived['sgd']}/archived.zip")
    assert refused.status_code == 403
    # another unit's record is answered as one that does not exist
    assert auditor_b.get(f"/audit/records/{archived['stc']}/archived.zip").status_code == 404
    assert auditor_b.get("/api/audit/archive?q=ngân sách").status_code == 403
    # an administrator sees every record, but content only where it is granted
    admin = signed_in(env, "admin")
    assert admin.get(f"/audit/records/{archived['stc']}/archived.zip").status_code == 403
    # stc's auditor has no content of sgd
    auditor_a = signed_in(env, "auditor-a")
    assert auditor_a.get(f"/audit/records/{archived['sgd']}/archived.zip").status_code == 404
    assert client(env.settings).get(
        f"/audit/records/{archived['stc']}/archived.zip").status_code == 303
    assert reads(env) == []


def test_the_search_reads_subjects_text_and_pdfs_of_the_grant_only(
        env: Any, archived: dict[str, int]) -> None:
    auditor_a = signed_in(env, "auditor-a")

    def found(query: str) -> list[int]:
        got = auditor_a.get("/api/audit/archive", params={"q": query})
        assert got.status_code == 200, got.text
        return [item["id"] for item in got.json()["items"]]

    # "ngân sách" is in both messages: only stc's is within the grant
    assert found("NGAN sach") == [archived["stc"]]
    assert found("kế hoạch thu chi") == [archived["stc"]]  # the text part
    assert found("quyết toán đặc biệt") == [archived["stc"]]  # the PDF's text
    assert found("giao ban") == []  # sgd's message, outside the grant
    assert found("ngân sách giao ban") == []  # every word is needed
    events = reads(env)
    assert [(e["actor"], e["details"]["action"], e["details"]["query"],
             e["details"]["matches"]) for e in events] == [
        ("auditor-a", "search", "NGAN sach", 1), ("auditor-a", "search", "kế hoạch thu chi", 1),
        ("auditor-a", "search", "quyết toán đặc biệt", 1), ("auditor-a", "search", "giao ban", 0),
        ("auditor-a", "search", "ngân sách giao ban", 0)]
    assert events[0]["details"]["records"] == str(archived["stc"])
    assert auditor_a.get("/api/audit/archive", params={"q": "  "}).status_code == 400
    assert auditor_a.get("/api/audit/archive",
                         params={"q": "x", "period": "2026-13"}).status_code == 400
    assert len(reads(env)) == 5  # refused searches read nothing and record nothing


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """The files refuse writes, even to root (chattr +i)."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            os.chmod(p, 0o400)
        try:
            yield
        finally:
            for p, mode in modes.items():
                os.chmod(p, mode)
        return
    subprocess.run(["chattr", "+i", *map(str, paths)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], check=True)


def test_a_read_that_cannot_be_recorded_shows_nothing(env: Any,
                                                      archived: dict[str, int]) -> None:
    auditor_a = signed_in(env, "auditor-a")
    store = env.config.audit.path
    with immutable(*[p for p in store.parent.glob(store.name + "*") if p.is_file()]):
        got = auditor_a.get("/api/audit/archive", params={"q": "ngân sách"})
        assert got.status_code == 503
        assert "could not be recorded" in got.text and "Công văn" not in got.text
        download = auditor_a.get(f"/audit/records/{archived['stc']}/archived.zip")
        assert download.status_code == 503
        assert STC_MAIL not in download.content
    assert reads(env) == []


def test_the_command_line_grants_and_takes_back_content(env: Any, tmp_path: Path) -> None:
    config = tmp_path / "congvu.toml"
    config.write_text(f'[service]\ndata_dir = "{env.config.service.data_dir}"\n',
                      encoding="utf-8")

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["user", *args, "--config", str(config)])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert "đơn vị: sgd; nội dung thư: sgd" in run("grant", "auditor-b", "sgd", "--content")
    assert "auditor-b\tauditor\tactive\tsgd\tcontent: sgd\n" in run("list", "--lang", "en")
    with users_of(env.settings) as users:
        assert users.get("auditor-b").content_units == ("sgd",)
    assert run("revoke", "auditor-b", "sgd", "--content", "--lang", "en").rstrip().endswith(
        "units: sgd")
    with users_of(env.settings) as users:
        user = users.get("auditor-b")
        assert (user.units, user.content_units) == (("sgd",), ())
    with AuditLog.open_readonly(env.config.audit.path) as log:
        actions = [(e["target"], e["unit_id"], e["details"]["action"])
                   for e in log.admin_events(kind="user-grant")][:2]
    assert actions == [("auditor-b", "sgd", "revoke-content"),
                       ("auditor-b", "sgd", "grant-content")]


def test_the_search_page_lists_what_it_found_in_vietnamese_with_its_downloads(
        env: Any, archived: dict[str, int]) -> None:
    auditor_a = signed_in(env, "auditor-a")
    assert 'href="/audit/archive"' in auditor_a.get("/audit").text  # in the menu
    page = auditor_a.get("/audit/archive", params={"q": "ngan sach"})
    assert page.status_code == 200, page.text
    assert f'<tr data-record="{archived["stc"]}">' in page.text
    assert "Tải thư kèm bằng chứng" in page.text and "Download with its proof" not in page.text
    assert f'href="/audit/records/{archived["stc"]}/archived.zip"' in page.text
    assert 'id="archive-read">Số thư đã đọc: 1 / 1<' in page.text
    assert [e["details"]["query"] for e in reads(env)] == ["ngan sach"]
    bad = auditor_a.get("/audit/archive", params={"q": "x", "period": "2026-13"})
    assert bad.status_code == 400 and 'id="archive-error"' in bad.text
    # the form alone reads nothing; without a grant of content there is no page
    assert auditor_a.get("/audit/archive").status_code == 200
    assert len(reads(env)) == 1
    auditor_b = signed_in(env, "auditor-b")
    assert 'href="/audit/archive"' not in auditor_b.get("/audit").text
    assert auditor_b.get("/audit/archive").status_code == 403


def test_bad_queries_get_a_defined_answer_and_syntax_is_only_words(
        env: Any, archived: dict[str, int]) -> None:
    auditor_a = signed_in(env, "auditor-a")
    for query in ('"', "*", "((", "^-:()", "x" * 1001, " ".join(["w"] * 33) + " z"):
        got = auditor_a.get("/api/audit/archive", params={"q": query})
        assert got.status_code == 400, (query, got.text)
        page = auditor_a.get("/audit/archive", params={"q": query})
        assert page.status_code == 400 and 'id="archive-error"' in page.text
    # FTS5 and tsquery syntax is only words: quotes, stars, operators and colons
    for query in ('"ngân sách" 2027*', "(kế hoạch)*", "thu^chi -", "ngân:sách", "sách:ngân"):
        got = auditor_a.get("/api/audit/archive", params={"q": query})
        assert got.status_code == 200, (query, got.text)
        assert [i["id"] for i in got.json()["items"]] == (
            [] if query == "sách:ngân" else [archived["stc"]]), query
    assert len(reads(env)) == 5  # refused queries are not recorded


def test_the_search_says_what_the_index_lacks_and_reads_without_one(
        env: Any, archived: dict[str, int]) -> None:
    late = message(f"vanthu@stc.{DOMAIN}", "Báo cáo chưa lập chỉ mục", "Nội dung muộn.\n")
    stored = Archive.open(env.config.archive.path).put(late)  # no reader: not indexed
    with AuditLog.open(env.config.audit) as log:
        late_id = log.record(make_record(sender_unit="stc", subject="Báo cáo",
                                         archived_sha256=stored.sha256))
    auditor_a = signed_in(env, "auditor-a")
    got = auditor_a.get("/api/audit/archive", params={"q": "ngan sach"}).json()
    assert (got["indexed"], got["unindexed"], got["scanned"], got["candidates"]) == (
        True, 1, 2, 2)
    assert [i["id"] for i in got["items"]] == [archived["stc"]]
    page = auditor_a.get("/audit/archive", params={"q": "noi dung muon"})
    assert 'id="archive-unindexed">Chưa có trong chỉ mục văn bản nên chưa được tìm: 1' in (
        page.text)
    # an archive without an index (encrypted ones, by default) is read, the same words
    # matching the same way
    unindexed = dataclasses.replace(env.settings, archive=env.config.archive.model_copy(
        update={"index": False}))
    reader = client(unindexed)
    login(reader, "auditor-a")
    got = reader.get("/api/audit/archive", params={"q": "noi dung muon"}).json()
    assert (got["indexed"], got["unindexed"], [i["id"] for i in got["items"]]) == (
        False, 0, [late_id])
    got = reader.get("/api/audit/archive", params={"q": "quyết toán đặc biệt"}).json()
    assert [i["id"] for i in got["items"]] == [archived["stc"]]


def test_the_search_tells_a_message_about_to_be_indexed_from_one_the_index_lacks(
        env: Any, archived: dict[str, int]) -> None:
    # the filter indexes after the reply, a batch at a time: a message archived moments
    # ago is named in its journal, and the console says it is coming, not to rebuild
    filtering = Archive.from_config(env.config.archive, create=True, reader=searchable_text)
    filtering.index_later(batch=10_000, delay=3600.0)
    fresh = message(f"vanthu@stc.{DOMAIN}", "Báo cáo vừa gửi", "Nội dung mới.\n")
    stored = filtering.put(fresh)
    with AuditLog.open(env.config.audit) as log:
        log.record(make_record(sender_unit="stc", subject="Báo cáo vừa gửi",
                               archived_sha256=stored.sha256))
    auditor_a = signed_in(env, "auditor-a")
    try:
        got = auditor_a.get("/api/audit/archive", params={"q": "noi dung moi"}).json()
        assert (got["unindexed"], got["waiting"], got["items"]) == (0, 1, [])
        page = auditor_a.get("/audit/archive", params={"q": "noi dung moi"})
        assert ('id="archive-waiting">Đã lưu trữ, đang chờ vào chỉ mục văn bản nên chưa '
                'được tìm: 1') in page.text
        # seconds as a rule, but a journal kept because the index could not be written
        # waits for the filter's next start or the rebuild: the page says both
        assert ("thường vào chỉ mục sau vài giây: hãy tìm lại. Nếu vẫn còn, chỉ mục chưa "
                "ghi được: thư vào chỉ mục khi dịch vụ lọc thư khởi động lại, hoặc bằng "
                "lệnh congvu archive index rebuild.") in page.text
        assert 'id="archive-unindexed"' not in page.text
    finally:
        filtering.stop_indexing()
    got = auditor_a.get("/api/audit/archive", params={"q": "noi dung moi"}).json()
    assert (got["unindexed"], got["waiting"], len(got["items"])) == (0, 0, 1)
