"""The report over a generated province (100 units, 3,000 officials on the roster) equals
an independent count of the traffic that made it.

A hundred-odd messages go through the real service (the units stage resolving roster
mailboxes, the documents stage judging PDFs signed under a government, a public and a
private root, the record milter writes); the rest of the month, the month before and
mail from outside are written to the same store through its batch write. The province
is built once per test session."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re
import smtplib
from collections import Counter
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import docx
import openpyxl
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from audit import AuditLog, Report, RosterMailbox
from audit.config import AuditConfig
from audit.reportfiled import render_file
from congvu.cli import main
from congvu.config import parse_config
from directory import Directory
from mailbase import parse_period, zone
from milter.server import Server
from support.documents import alter_page, plain_pdf, sign_pdf
from support.loopthread import LoopThread
from support.office import need_libreoffice, pdf_text
from support.province import to_csv
from support.sink import Sink
from support.usage import (
    ROOTS,
    TZ_NAME,
    Expected,
    Province,
    Sent,
    bulk_write,
    expected,
    pki_under,
)

TZ = zone(TZ_NAME)
SERVICE_MESSAGES = 80
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200)


@dataclass
class Run:
    """The province's store after its month, and what made it."""

    data: Path
    province: Province
    mail: list[Sent]
    #: officials that sent through the service (their exact times are the service's)
    through_service: set[str]

    @property
    def audit(self) -> AuditConfig:
        return AuditConfig(path=self.data / "audit.sqlite3", keys_dir=self.data / "keys")


def _documents(base: Path) -> tuple[dict[str, bytes], list[Path]]:
    """A PDF of each kind the service can judge, and the three roots' PEM files."""
    pkis = {family: pki_under(*names) for family, names in ROOTS.items()}
    anchors = []
    for family, pki in pkis.items():
        anchors.append(base / f"{family}-root.pem")
        anchors[-1].write_bytes(pki.root.cert.public_bytes(Encoding.PEM))
    gov = pkis["gov"]
    person = gov.issue("cb0000@laocai.gov.vn", common_name="Cán bộ 0000")
    seal = gov.issue("ubnd@laocai.gov.vn", common_name="Ủy ban nhân dân tỉnh")
    signed = sign_pdf(plain_pdf(text="Cong van 1"), person)
    return {
        "unsigned": plain_pdf(text="Du thao"),
        "gov": signed,
        "public": sign_pdf(plain_pdf(text="Hop dong"), pkis["public"].issue("a@b.vn")),
        "other": sign_pdf(plain_pdf(text="Thong bao"), pkis["other"].issue("c@d.vn")),
        "complete": sign_pdf(signed, seal, field="Signature2"),
        "invalid": alter_page(signed),
        "image": JPEG,
    }, anchors


def _message(sender: str, recipients: list[str], documents: dict[str, bytes],
             kinds: list[str], n: int) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, ", ".join(recipients)
    msg["Subject"], msg["Message-ID"] = f"Công văn số {n}", f"<cv-{n}@laocai.gov.vn>"
    msg.set_content("Kính gửi các đơn vị.")
    for i, kind in enumerate(kinds):
        msg.add_attachment(documents[kind], maintype="application", subtype="octet-stream",
                           filename=f"{kind}-{i}.pdf" if kind != "image" else "anh.jpg")
    return msg.as_bytes(policy=SMTP)


def _through_service(base: Path, province: Province, rng: random.Random) -> list[Sent]:
    """Send the service's share of the month; return it as the generator's records."""
    documents, anchors = _documents(base)
    runner = LoopThread()
    sink = Sink(runner)
    sink.start()
    config = parse_config({
        "service": {"data_dir": str(base / "var"), "hostname": "filter.test"},
        "listeners": [{"name": "submission", "role": "outbound", "port": 0}],
        "next_hop": {"kind": "smtp", "port": sink.port, "command_timeout": 10,
                     "data_timeout": 10, "connect_timeout": 10},
        # the three test PKIs publish no CRL: revocation cannot be required of them
        "signer": {"documents": {"trust_anchors": [str(a) for a in anchors],
                                 "revocation": "optional"}},
    })
    server = Server(config)
    runner.run(server.start())
    sent: list[Sent] = []
    try:
        with Directory.open(config.directory.path) as store:
            store.import_csv(to_csv(province.units), actor="test")
            store.import_mailboxes(to_csv([o.roster_row() for o in province.officials],
                                          columns=list(province.officials[0].roster_row())),
                                   actor="test")
        server.runtime.units.index.refresh()
        senders = [o for o in province.officials if o.plan == "regular" and (
            o.created is None or o.created < province.month)]
        port = next(iter(server.ports.values()))
        kinds = itertools.cycle(["gov", "unsigned", "public", "complete", "other", "invalid",
                                 "image", "gov"])
        for n in range(SERVICE_MESSAGES):
            official = rng.choice(senders)
            recipients = province._recipients(rng)
            attached = [next(kinds) for _ in range(n % 3)]
            refused = n % 40 == 7  # a program attached: the policy refuses it
            raw = _message(official.address, [a for a, _ in recipients], documents, attached, n)
            if refused:
                raw = _message(official.address, [a for a, _ in recipients], {
                    **documents, "program": b"MZ\x90\x00" + bytes(300)}, ["program"], n)
                raw = raw.replace(b'filename="program-0.pdf"', b'filename="setup.exe"')
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                try:
                    client.sendmail(official.address, [a for a, _ in recipients], raw)
                    fate = "relayed"
                except smtplib.SMTPDataError as exc:
                    assert exc.smtp_code == 550, exc
                    fate = "rejected"
            assert (fate == "rejected") is refused
            sent.append(Sent(dt.datetime.now(dt.UTC), official.address, official.unit,
                             recipients, [] if refused else attached, fate))
    finally:
        runner.run(server.stop(5))
        sink.stop()
        runner.close()
    return sent


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The province's month, built once per test session."""
    base = tmp_path_factory.mktemp("province")
    month = dt.datetime.now(TZ).date().replace(day=1)
    province = Province.generate(month, TZ, now=dt.datetime.now(dt.UTC))
    service = _through_service(base, province, random.Random(7))
    result = Run(base / "var", province, [*service, *province.mail],
                 {m.sender for m in service})
    bulk_write(result.audit, province.mail)
    return result


def roster(run: Run) -> list[RosterMailbox]:
    """The roster as the composition root passes it: read from the directory's store."""
    with Directory.open(run.data / "directory.sqlite3", read_only=True) as store:
        return [RosterMailbox(address=m.address.key, unit_id=m.unit_id, full_name=m.full_name,
                              is_active=m.is_active, created=m.created,
                              last_login=m.last_login) for m in store.mailboxes()]


@pytest.fixture(scope="module")
def report_and_expected(run: Run) -> tuple[Report, Expected]:
    with AuditLog.open_readonly(run.audit.path) as log:
        report = log.report(parse_period(run.province.month.strftime("%Y-%m"), TZ),
                            roster=roster(run), tz=TZ)
    return report, expected(run.province, run.mail)


FIGURES = ("sent", "sent_refused", "sent_held", "received", "received_refused",
           "documents_sent", "documents_signed", "documents_valid", "documents_valid_gov",
           "documents_valid_public", "documents_valid_other", "documents_received",
           "documents_received_valid", "documents_received_complete")


def figures(counts: object) -> Counter[str]:
    return Counter({name: getattr(counts, name) for name in FIGURES
                    if getattr(counts, name)})


@pytest.mark.slow
def test_every_unit_and_the_total_equal_the_independent_count(
        report_and_expected: tuple[Report, Expected]) -> None:
    report, wanted = report_and_expected
    assert len(report.units) == 100
    found = {u.unit_id: figures(u.counts) for u in report.units}
    assert found == {u: Counter({k: v for k, v in c.items() if k in FIGURES and v})
                     for u, c in wanted.units.items()} | {
        u: Counter() for u in found if u not in wanted.units}
    assert figures(report.total) == Counter(
        {k: v for k, v in wanted.total.items() if k in FIGURES and v})
    # the traffic has every kind of document and fate, so each figure is tested
    assert all(report.total.documents_valid_gov and report.total.documents_valid_public
               and report.total.documents_valid_other and report.total.sent_held
               and report.total.documents_received_complete for _ in [0])


@pytest.mark.slow
def test_use_per_unit_per_official_and_in_total(
        report_and_expected: tuple[Report, Expected], run: Run) -> None:
    report, wanted = report_and_expected
    assert {u.unit_id: (u.use.mailboxes, u.use.activated, u.use.regular)
            for u in report.units if u.use is not None and u.use.mailboxes} == wanted.use
    assert report.use is not None
    assert (report.use.mailboxes, report.use.activated, report.use.regular) == wanted.total_use
    found = {o.mailbox.address: (o.is_activated, o.is_regular, o.sent, o.last_sent)
             for o in report.officials}
    assert {a: v[:3] for a, v in found.items()} == {a: v[:3]
                                                    for a, v in wanted.officials.items()}
    assert {a: v[3] for a, v in found.items() if a not in run.through_service} == {
        a: v[3] for a, v in wanted.officials.items() if a not in run.through_service}
    # all kinds of official are there
    assert 0 < report.use.regular < report.use.activated < report.use.mailboxes


@pytest.mark.slow
def test_the_officials_not_using_are_listed_with_their_last_message(
        report_and_expected: tuple[Report, Expected], run: Run) -> None:
    """The list names exactly the officials not using their mailbox, each with the
    time of their last message. A message through the service is stamped by the
    service on receipt, before the test notes the time after its reply: for those
    senders the listed time is at most the noted one; for the others it is exact."""
    report, wanted = report_and_expected
    listed = {o.mailbox.address: o.last_sent for o in report.not_using}
    expected = {a: v[3] for a, v in wanted.officials.items() if not v[1]}
    assert listed.keys() == expected.keys()
    for address, last in listed.items():
        noted = expected[address]
        if address in run.through_service and last is not None and noted is not None:
            assert last <= noted, address
        else:
            assert last == noted, address


@pytest.mark.slow
def test_the_store_still_verifies(run: Run, report_and_expected: tuple[Report, Expected]
                                  ) -> None:
    report, _ = report_and_expected
    with AuditLog.open(run.audit) as log:
        assert log.verify().is_intact
        assert report.head is not None
        assert log.show(report.head.seq)["hash"] == report.head.hash


@pytest.mark.slow
def test_the_command_reads_the_roster_from_the_directory(
        run: Run, report_and_expected: tuple[Report, Expected], tmp_path: Path) -> None:
    report, wanted = report_and_expected
    config = tmp_path / "congvu.toml"
    config.write_text(f'[service]\ndata_dir = "{run.data}"\n', encoding="utf-8")
    result = CliRunner().invoke(main, [
        "audit", "report", "--period", run.province.month.strftime("%Y-%m"),
        "--format", "json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    total = data["rows"][-1]
    assert (total["mailboxes"], total["activated"], total["regular"]) == wanted.total_use
    assert report.head is not None and data["chain"] == {"seq": report.head.seq,
                                                         "hash": report.head.hash}
    assert len(data["not_using"]) == len(report.not_using)


#: The filed report's appendix columns, by their labels, as the independent count names them.
FILED = {"Đã gửi": "sent", "Đã nhận": "received", "Văn bản đã gửi": "documents_sent",
         "Văn bản ký số hợp lệ": "documents_valid",
         "Hợp lệ, CA chuyên dùng Chính phủ": "documents_valid_gov",
         "Văn bản đã nhận": "documents_received",
         "Văn bản nhận ký số hợp lệ": "documents_received_valid",
         "Gửi bị từ chối": "sent_refused", "Gửi đang cách ly": "sent_held",
         "Nhận bị từ chối": "received_refused"}
USE = ("Hộp thư cá nhân", "Đã kích hoạt", "Sử dụng thường xuyên")


@pytest.fixture(scope="module")
def filed(run: Run, report_and_expected: tuple[Report, Expected],
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The month's report as filed, both files, written once."""
    report, _ = report_and_expected
    names = {u["id"]: u["name"] for u in run.province.units}
    out = tmp_path_factory.mktemp("filed")
    files = {fmt: out / f"bao-cao.{fmt}" for fmt in ("xlsx", "docx")}
    for fmt, path in files.items():
        path.write_bytes(render_file(report, fmt, TZ_NAME, names))
    return files


def _appendix(header: list[str], rows: list[list[object]]) -> dict[str, dict[str, object]]:
    return {str(row[0]): dict(zip(header, row, strict=True)) for row in rows}


def _wanted(run: Run, wanted: Expected) -> dict[str, dict[str, object]]:
    """The independent count, by unit name and appendix label ("Toàn tỉnh": the total)."""
    found = {}
    for unit in run.province.units:
        counts = wanted.units.get(unit["id"], Counter())
        use = wanted.use.get(unit["id"], (0, 0, 0))
        found[unit["name"]] = {**{label: counts[key] for label, key in FILED.items()},
                               **dict(zip(USE, use, strict=True))}
    found["Toàn tỉnh"] = {**{label: wanted.total[key] for label, key in FILED.items()},
                          **dict(zip(USE, wanted.total_use, strict=True))}
    return found


@pytest.mark.slow
def test_the_filed_workbook_and_document_equal_the_independent_count(
        run: Run, report_and_expected: tuple[Report, Expected],
        filed: dict[str, Path]) -> None:
    _, wanted = report_and_expected
    expected = _wanted(run, wanted)
    wb = openpyxl.load_workbook(filed["xlsx"], read_only=True)
    values = list(wb["Phụ lục"].iter_rows(values_only=True))
    start = next(i for i, row in enumerate(values) if row[0] == "Đơn vị")
    sheet = _appendix(list(values[start]), [list(r) for r in values[start + 1:]])
    assert {u: {k: row[k] for k in expected[u]} for u, row in sheet.items()} == expected
    assert len(wb.sheetnames) == 3 + 100  # summary, appendix, not using, a sheet per unit

    document = docx.Document(str(filed["docx"]))
    table = document.tables[-1]
    header = [c.text for c in table.rows[0].cells]
    rows = _appendix(header, [[c.text for c in r.cells] for r in table.rows[1:]])
    assert {u: {k: int(str(row[k]).replace(".", "")) for k in expected[u]}
            for u, row in rows.items()} == expected
    total = wanted.total_use
    text = "\n".join(p.text for p in document.paragraphs)
    assert (f"Tổng số cán bộ được cấp hộp thư điện tử công vụ: {total[0]:,}; số hộp thư đã "
            f"kích hoạt: {total[1]:,}".replace(",", ".")) in text
    idle = document.tables[0]
    assert len(idle.rows) - 1 == sum(1 for v in wanted.officials.values() if not v[1])


@pytest.mark.slow
@pytest.mark.interop
def test_libreoffice_prints_every_unit_and_the_province_totals(
        run: Run, report_and_expected: tuple[Report, Expected], filed: dict[str, Path],
        tmp_path: Path) -> None:
    need_libreoffice()
    _, wanted = report_and_expected
    mailboxes, activated, _ = wanted.total_use
    for fmt, source in filed.items():
        # names in reading order (a wrapped cell's lines together), white space and
        # hyphens aside (pdftotext drops a hyphen that ends a line)
        flowing = re.sub(r"[\s-]+", "", pdf_text(source, tmp_path, layout=False))
        missing = [u["name"] for u in run.province.units
                   if re.sub(r"[\s-]+", "", u["name"]) not in flowing]
        assert not missing, (fmt, missing)
        printed = re.sub(r"\s+", " ", pdf_text(source, tmp_path))
        # the document writes numbers the Vietnamese way; the workbook's cells are numbers
        # LibreOffice prints in its own locale (en-US here)
        counts = [f"{n:,}".replace(",", ".") if fmt == "docx" else str(n)
                  for n in (mailboxes, activated)]
        rate = f"{100 * activated / mailboxes:.1f}"
        rate = re.escape(rate.replace(".", ",") if fmt == "docx" else rate)
        numbers = [re.escape(n) for n in counts]
        assert re.search(rf"Toàn (tỉnh )?{numbers[0]} {numbers[1]} {rate} ?%", printed), fmt
