"""A merged province through the real service, during the transition.

Three provinces' exports merged by `congvu directory merge`, the new province's units
added with their successors as docs/merging-provinces.md says, imported into the
filter's own SQLite directory; one DKIM key per domain served by the loopback DNS
server. Old and new units both send, each signed for its own domain and recorded as
itself, and all three domains are the province's own for the spoof guard. After the
transition (the old units' `valid_until` passed, or the old units made inactive),
sending as an old address is refused with a reply naming the successor's address,
mail to an old address is still taken, and the Postfix maps forward it. Mail sent
before the merge, under the old ids, is read by the new ones once the log is given the
merge's map, and the report counts it for the successor when asked.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from audit import AuditLog
from audit.query import Filters
from congvu.cli import main
from directory import Directory, DirectoryConfig, commands
from directory.publish import publish
from mailbase import zone
from signer import DkimVerifier, DnsResolver
from signer.keys import Algorithm
from support.dkim import make_key
from support.dns import DnsServer
from support.rawsmtp import Raw

DOMAINS = {"bt": "binhthuan.gov.vn", "ld": "lamdong.gov.vn", "dn": "daknong.gov.vn"}
SELECTOR = "s202507"
HEADER = "id,name,parent,address,dkim_domain,senders,successor\n"
NEW_UNITS = (
    "ubnd-lam-dong,Ủy ban nhân dân tỉnh Lâm Đồng,,ubnd.tinh@lamdong.gov.vn,lamdong.gov.vn,,\n"
    "so-tai-chinh-lam-dong,Sở Tài chính,ubnd-lam-dong,taichinh@lamdong.gov.vn,"
    "lamdong.gov.vn,,\n")


@pytest.fixture
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@pytest.fixture
def keys(tmp_path: Path, dns: DnsServer) -> list[dict[str, str]]:
    """The key table: one key per domain, its record published."""
    table = []
    for domain in DOMAINS.values():
        folder = tmp_path / "dkim" / domain
        folder.mkdir(parents=True)
        key = make_key(folder, SELECTOR, Algorithm.RSA_SHA256)
        dns.add_txt(f"{SELECTOR}._domainkey.{domain}", key.record)
        table.append({"domain": domain, "selector": SELECTOR, "key_file": str(key.path),
                      "algorithm": "rsa-sha256"})
    return table


def merged_directory(store: Path, work: Path, *, valid_until: str = "",
                     active: str = "") -> None:
    """Merge three provinces, add the new units and successors, import into ``store``;
    the old units' ``valid_until`` and ``active`` cells set as given."""

    def load(_path: Path | None) -> DirectoryConfig:
        return DirectoryConfig(path=store)

    (group,) = commands(load)
    assert isinstance(group, click.Group)
    files = []
    for prefix, domain in DOMAINS.items():
        path = work / f"{prefix}.csv"
        path.write_text(HEADER +
                        f"ubnd-tinh,UBND tỉnh,,ubnd@{domain},{domain},,\n"
                        f"so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@{domain},{domain},,\n",
                        encoding="utf-8")
        files += [str(path), "--prefix", prefix]
    merged = work / "merged.csv"
    runner = CliRunner()
    result = runner.invoke(group, ["merge", *files, "--out", str(merged),
                                   "--map", str(work / "ids.csv")])
    assert result.exit_code == 0, result.output
    lines = merged.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    successor = header.index("successor")
    edited = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[successor] = ("so-tai-chinh-lam-dong" if cells[0].endswith("-so-tai-chinh")
                            else "ubnd-lam-dong")
        cells[header.index("valid_until")] = valid_until or cells[header.index("valid_until")]
        cells[header.index("active")] = active or cells[header.index("active")]
        edited.append(",".join(cells))
    new = [dict(zip(HEADER.strip().split(","), row.split(","), strict=True))
           for row in NEW_UNITS.splitlines()]
    edited += [",".join(unit.get(column, "") for column in header) for unit in new]
    merged.write_text("\r\n".join(edited) + "\r\n", encoding="utf-8")
    result = runner.invoke(group, ["import", str(merged)])
    assert result.exit_code == 0, result.output


def send(port: int, head: str, *, mail_from: str, rcpt: str,
         client_ip: bytes | None = None) -> bytes:
    raw = Raw(port)
    raw.command(b"EHLO postfix")
    if client_ip is not None:
        assert raw.command(b"XFORWARD ADDR=" + client_ip).startswith(b"250")
    assert raw.command(f"MAIL FROM:<{mail_from}>".encode()).startswith(b"250")
    assert raw.command(f"RCPT TO:<{rcpt}>".encode()).startswith(b"250")
    assert raw.command(b"DATA").startswith(b"354")
    raw.send(head.encode() + b"To: x@example.org\r\nSubject: hop nhat\r\n"
             b"Message-ID: <m@example.org>\r\n\r\nbody\r\n.\r\n")
    return raw.reply()


def sender_units(path: Path) -> list[Any]:
    log = AuditLog.open_readonly(path)
    try:
        return [log.show(item.id).get("sender_unit") for item in log.query(Filters()).items]
    finally:
        log.close()


def _resolver(dns: DnsServer) -> dict[str, Any]:
    return {"authserv_id": "mx.lamdong.gov.vn", "resolver_nameserver": "127.0.0.1",
            "resolver_port": dns.port, "resolver_timeout": 2}


def test_old_and_new_units_send_each_signed_for_its_domain(
    filter_server: Callable[..., Any], next_hop: Any, dns: DnsServer,
    keys: list[dict[str, str]], tmp_path: Path,
) -> None:
    running = filter_server(signer={"dkim": {**_resolver(dns), "keys": keys}})
    merged_directory(running.server.config.directory.path, tmp_path)
    running.server.runtime.units.index.refresh()
    verifier = DkimVerifier(DnsResolver("127.0.0.1", port=dns.port, timeout=2))
    senders = [("stc@binhthuan.gov.vn", "binhthuan.gov.vn"),
               ("taichinh@lamdong.gov.vn", "lamdong.gov.vn"),
               ("stc@daknong.gov.vn", "daknong.gov.vn"),
               ("stc@lamdong.gov.vn", "lamdong.gov.vn")]
    for address, domain in senders:
        reply = send(running.port, f"From: Sở Tài chính <{address}>\r\n", mail_from=address,
                     rcpt="a@example.org")
        assert reply.startswith(b"250"), reply
        [dkim] = verifier.verify(next_hop.get().content)
        assert (dkim.result.value, dkim.domain) == ("pass", domain)
    assert sorted(sender_units(running.server.config.audit.path)) == sorted([
        "bt-so-tai-chinh", "so-tai-chinh-lam-dong", "dn-so-tai-chinh", "ld-so-tai-chinh"])


def test_every_domain_of_the_merged_province_is_guarded_against_forgery(
    filter_server: Callable[..., Any], next_hop: Any, dns: DnsServer, tmp_path: Path,
) -> None:
    running = filter_server(listeners=[{"name": "in", "role": "inbound", "queue": "before",
                                        "port": 0}], signer={"dkim": _resolver(dns)})
    merged_directory(running.server.config.directory.path, tmp_path)
    running.server.runtime.units.index.refresh()
    for domain in DOMAINS.values():
        reply = send(running.port, f"From: stc@{domain}\r\n", mail_from="x@example.org",
                     rcpt="taichinh@lamdong.gov.vn", client_ip=b"203.0.113.9")
        assert reply.startswith(
            b"550 5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / "
            b"Message refused as a forged provincial sender"), (domain, reply)
    next_hop.assert_empty()


def records(path: Path) -> list[dict[str, Any]]:
    log = AuditLog.open_readonly(path)
    try:
        return sorted((log.show(item.id) for item in log.query(Filters()).items),
                      key=lambda record: int(record["id"]))
    finally:
        log.close()


SUCCESSOR_REPLY = (
    "550 5.7.1 Thu bi tu choi: dia chi stc@binhthuan.gov.vn da ngung su dung (don vi da "
    "hop nhat vao so-tai-chinh-lam-dong), hay gui bang dia chi taichinh@lamdong.gov.vn / "
    "Message refused: the From address stc@binhthuan.gov.vn is of unit bt-so-tai-chinh, "
    "which {when}; send as its successor's address taichinh@lamdong.gov.vn")


@pytest.mark.parametrize(("cells", "when"), [
    ({"valid_until": "2025-06-30"}, "ended on 2025-06-30"),
    ({"active": "no"}, "is no longer active"),
], ids=["valid-until-passed", "made-inactive"])
def test_after_the_transition_sending_as_an_old_address_is_refused_naming_the_new_one(
    filter_server: Callable[..., Any], next_hop: Any, tmp_path: Path,
    cells: dict[str, str], when: str,
) -> None:
    running = filter_server()
    merged_directory(running.server.config.directory.path, tmp_path, **cells)
    running.server.runtime.units.index.refresh()
    reply = send(running.port, "From: Sở Tài chính <stc@binhthuan.gov.vn>\r\n",
                 mail_from="stc@binhthuan.gov.vn", rcpt="a@example.org")
    assert reply.decode() == SUCCESSOR_REPLY.format(when=when)
    next_hop.assert_empty()
    # the successor sends as before
    reply = send(running.port, "From: Sở Tài chính <taichinh@lamdong.gov.vn>\r\n",
                 mail_from="taichinh@lamdong.gov.vn", rcpt="a@example.org")
    assert reply.startswith(b"250"), reply
    assert next_hop.get().mail_from == "taichinh@lamdong.gov.vn"
    refused, relayed = records(running.server.config.audit.path)
    assert [c["outcome"] for c in refused["completions"]] == ["rejected"]
    assert [(auth["method"], auth["result"], auth.get("disposition"))
            for auth in refused["authentication"]] == [("sender", "fail", "sender-unit-ended")]
    assert refused["sender_unit"] == "bt-so-tai-chinh"
    assert [c["outcome"] for c in relayed["completions"]] == ["relayed"]


@pytest.mark.parametrize("cells", [{"valid_until": "2025-06-30"}, {"active": "no"}],
                         ids=["valid-until-passed", "made-inactive"])
def test_after_the_transition_mail_to_an_old_address_is_still_taken(
    filter_server: Callable[..., Any], next_hop: Any, tmp_path: Path, cells: dict[str, str],
) -> None:
    running = filter_server(listeners=[{"name": "in", "role": "inbound", "queue": "before",
                                        "port": 0}])
    merged_directory(running.server.config.directory.path, tmp_path, **cells)
    running.server.runtime.units.index.refresh()
    reply = send(running.port, "From: a@example.org\r\n", mail_from="a@example.org",
                 rcpt="stc@binhthuan.gov.vn", client_ip=b"203.0.113.9")
    assert reply.startswith(b"250"), reply
    assert next_hop.get().recipients == ["stc@binhthuan.gov.vn"]
    # an old domain stays the province's own: forging it is still refused
    reply = send(running.port, "From: stc@binhthuan.gov.vn\r\n", mail_from="x@example.org",
                 rcpt="taichinh@lamdong.gov.vn", client_ip=b"203.0.113.9")
    assert reply.startswith(
        b"550 5.7.1 Thu bi tu choi: gia danh nguoi gui cua tinh / "
        b"Message refused as a forged provincial sender"), reply


@pytest.mark.parametrize("published_on", ["2025-06-30", "2025-07-01"])
def test_the_postfix_maps_end_an_old_unit_after_its_last_day(
    tmp_path: Path, published_on: str,
) -> None:
    store = tmp_path / "directory.sqlite3"
    merged_directory(store, tmp_path, valid_until="2025-06-30")
    directory = Directory.open(store)
    try:
        units = directory.units()
    finally:
        directory.close()
    # midnight in Vietnam (UTC+7) is 17:00 UTC the day before
    now = datetime.fromisoformat(f"{published_on}T00:00:00+07:00").astimezone(UTC)
    publish(units, tmp_path / "www", now=now)
    maps = {name: (tmp_path / "www" / "postfix" / name).read_text("utf-8").splitlines()
            for name in ("virtual", "recipients")}
    ended = published_on == "2025-07-01"
    assert ("stc@binhthuan.gov.vn\ttaichinh@lamdong.gov.vn" in maps["virtual"]) is ended
    assert ("ubnd@daknong.gov.vn\tubnd.tinh@lamdong.gov.vn" in maps["virtual"]) is ended
    assert "stc@binhthuan.gov.vn\tOK" in maps["recipients"]
    # the address books list the units in service on the day
    book = (tmp_path / "www" / "directory.vcf").read_text("utf-8")
    assert ("stc@binhthuan.gov.vn" in book) is not ended
    assert "taichinh@lamdong.gov.vn" in book


def test_mail_before_the_merge_is_read_by_the_new_ids_and_counted_for_the_successor(
    filter_server: Callable[..., Any], next_hop: Any, tmp_path: Path,
) -> None:
    """The old Lâm Đồng server becomes the new province's: its log goes on, with a
    new directory store beside the old one."""
    before = filter_server()
    with Directory.open(before.server.config.directory.path) as store:
        store.import_csv(HEADER + "ubnd-tinh,UBND tỉnh,,ubnd@lamdong.gov.vn,lamdong.gov.vn,,\n"
                         "so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@lamdong.gov.vn,"
                         "lamdong.gov.vn,,\n", actor="test")
    before.server.runtime.units.index.refresh()
    new_store = tmp_path / "directory-2025.sqlite3"
    merged_directory(new_store, tmp_path)
    after = filter_server(directory={"path": str(new_store)})
    for running, address in ((before, "stc@lamdong.gov.vn"), (after, "stc@lamdong.gov.vn"),
                             (after, "taichinh@lamdong.gov.vn")):
        reply = send(running.port, f"From: {address}\r\n", mail_from=address,
                     rcpt="a@example.org")
        assert reply.startswith(b"250"), reply
        assert next_hop.get().mail_from == address
    audit_path = before.server.config.audit.path
    assert after.server.config.audit.path == audit_path
    assert sorted(sender_units(audit_path)) == sorted(
        ["so-tai-chinh", "ld-so-tai-chinh", "so-tai-chinh-lam-dong"])
    config = tmp_path / "new.toml"
    config.write_text(f'[audit]\npath = "{audit_path}"\n[directory]\npath = "{new_store}"\n',
                      encoding="utf-8")

    def congvu(*args: str) -> Any:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False,
                                    env={"CONGVU_CONFIG": str(config)})
        assert result.exit_code == 0, result.output
        return result.stdout

    assert congvu("audit", "rename-units", "--map", str(tmp_path / "ids.csv"),
                  "--file", "ld.csv").startswith("ld.csv: 2 unit id(s) renamed")
    assert sorted(sender_units(audit_path)) == sorted(
        ["ld-so-tai-chinh", "ld-so-tai-chinh", "so-tai-chinh-lam-dong"])
    period = datetime.now(UTC).astimezone(zone()).strftime("%Y-%m")

    def sent(*args: str) -> dict[str, int]:
        rows = json.loads(congvu("audit", "report", "--period", period, "--format", "json",
                                 *args))["rows"]
        # every unit of the directory has a row; those that sent something, and the total
        return {row["unit"]: row["sent"] for row in rows
                if not row["mailbox"] and (row["sent"] or not row["unit"])}

    assert sent() == {"ld-so-tai-chinh": 2, "so-tai-chinh-lam-dong": 1, "": 3}
    assert sent("--with-predecessors") == {"so-tai-chinh-lam-dong": 3, "": 3}
