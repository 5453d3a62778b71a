"""A merged province through the real service, during the transition.

Three provinces' exports merged by `congvu directory merge`, the new province's units
added with their successors as docs/merging-provinces.md says, imported into the
filter's own SQLite directory; one DKIM key per domain served by the loopback DNS
server. Old and new units both send, each signed for its own domain and recorded as
itself, and all three domains are the province's own for the spoof guard.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from audit import AuditLog
from audit.query import Filters
from directory import DirectoryConfig, commands
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


def merged_directory(store: Path, work: Path) -> None:
    """Merge three provinces, add the new units and successors, import into ``store``."""

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
    result = runner.invoke(group, ["merge", *files, "--out", str(merged)])
    assert result.exit_code == 0, result.output
    lines = merged.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    successor = header.index("successor")
    edited = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[successor] = ("so-tai-chinh-lam-dong" if cells[0].endswith("-so-tai-chinh")
                            else "ubnd-lam-dong")
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
        assert reply.startswith(b"550 5.7.1 Message refused as a forged provincial sender"), (
            domain, reply)
    next_hop.assert_empty()
