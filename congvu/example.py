"""``congvu example load``: a fictional province to try congvu out on (``make run``).

It writes into the data directory (``$CONGVU_VAR``, else ``./var``) tỉnh Ví Dụ on the
reserved domain ``tinh-vi-du.test`` (RFC 2606: it never resolves to anyone): a
directory of twelve units with their official addresses and senders, a DKIM key made by
signer/'s key code, S/MIME certificates from a private test CA (``example_pki.py``), a
console administrator with a password printed once, and ``example.toml``, the
configuration that uses them. Nothing else ever reads that file: the example is used
only through ``--config var/example.toml``.

Everything is made in a fresh directory beside the data directory and renamed into
place at the end, so the data directory either holds the whole example or is left as
it was. Loading again changes nothing and says so; ``rm -rf var`` starts over.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import click

from audit import AdminEvent, AdminKind, AuditLog
from congvu.config import CongvuConfig, load_config, parse_config, web_settings
from congvu.example_pki import TestCa
from directory import Directory
from signer.keys import Algorithm, generate_private_key, key_record, write_private_key

DOMAIN = "tinh-vi-du.test"
SELECTOR = "thu-nghiem"
CONFIG_NAME = "example.toml"
ADMIN = "admin"
ACTOR = "congvu example"
#: The TXT record DNS would publish for the DKIM key (there is no DNS for .test).
DKIM_RECORD = f"dkim/{SELECTOR}._domainkey.{DOMAIN}.txt"
#: An outside sender of the forged message in the README (another reserved domain).
OUTSIDER = "ke-gia-mao@ngoai-tinh.test"


@dataclass(frozen=True, slots=True)
class ExampleUnit:
    """One unit of tỉnh Ví Dụ: a row of the directory's import file."""

    id: str
    name: str
    parent: str
    address: str
    short_name: str
    kind: str
    aliases: tuple[str, ...] = ()
    senders: tuple[str, ...] = ()


def _unit(id_: str, name: str, parent: str, local: str, short: str, kind: str, *,
          sub: str = "", aliases: tuple[str, ...] = ()) -> ExampleUnit:
    domain = f"{sub}.{DOMAIN}" if sub else DOMAIN
    return ExampleUnit(id_, name, parent, f"{local}@{domain}", short, kind,
                       tuple(f"{alias}@{domain}" for alias in aliases),
                       (f"vanthu.{id_}",))


UNITS: tuple[ExampleUnit, ...] = (
    _unit("ubnd-tinh", "Ủy ban nhân dân tỉnh Ví Dụ", "", "ubnd", "UBND tỉnh", "province",
          aliases=("vanthu.ubnd",)),
    _unit("van-phong-ubnd", "Văn phòng Ủy ban nhân dân tỉnh", "ubnd-tinh", "vanphong",
          "VP UBND", "department"),
    _unit("vp-hanh-chinh", "Phòng Hành chính - Tổ chức", "van-phong-ubnd", "hcth.vanphong",
          "P.HCTC", "sub-department"),
    _unit("so-tai-chinh", "Sở Tài chính", "ubnd-tinh", "stc", "STC", "department",
          aliases=("vanthu.stc",)),
    _unit("stc-ngan-sach", "Phòng Quản lý ngân sách", "so-tai-chinh", "ngansach.stc",
          "P.QLNS", "sub-department"),
    _unit("stc-gia-cong-san", "Phòng Quản lý giá và công sản", "so-tai-chinh",
          "giacongsan.stc", "P.QLG&CS", "sub-department"),
    _unit("so-noi-vu", "Sở Nội vụ", "ubnd-tinh", "snv", "SNV", "department"),
    _unit("snv-to-chuc", "Phòng Tổ chức - Biên chế", "so-noi-vu", "tochuc.snv", "P.TCBC",
          "sub-department"),
    _unit("snv-van-thu", "Chi cục Văn thư - Lưu trữ", "so-noi-vu", "luutru.snv", "CCVTLT",
          "sub-department"),
    _unit("xa-an-binh", "Ủy ban nhân dân xã An Bình", "ubnd-tinh", "ubnd",
          "UBND xã An Bình", "commune", sub="xa-an-binh"),
    _unit("xa-tan-lap", "Ủy ban nhân dân xã Tân Lập", "ubnd-tinh", "ubnd",
          "UBND xã Tân Lập", "commune", sub="xa-tan-lap"),
    _unit("phuong-hoa-binh", "Ủy ban nhân dân phường Hòa Bình", "ubnd-tinh", "ubnd",
          "UBND phường Hòa Bình", "ward", sub="phuong-hoa-binh"),
)


class ExampleError(Exception):
    """The example cannot be loaded here (the command exits 2: a usage problem)."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """What ``load`` did: the configuration's path, and the administrator's password
    (None when the example was loaded before: it is shown only once)."""

    config_path: Path
    password: str | None


def _toml(data_dir: Path) -> str:
    """The example's configuration; relative paths are under ``data_dir``."""
    identities = "".join(
        f'\n[[signer.smime.identities]]\nunit = "{u.id}"\n'
        f'cert = "smime/{u.id}.pem"\nkey = "smime/{u.id}.key"\n' for u in UNITS)
    return f"""\
# tỉnh Ví Dụ: a fictional province on the reserved domain {DOMAIN}, written by
# `congvu example load` FOR TRYING CONGVU OUT ONLY. Its DKIM key and its S/MIME CA and
# certificates are test material made on this machine: never use them for real mail.
# Only `--config` with this file uses it. To start over: rm -rf {data_dir}
# Every option is in docs/configuration.md; deploy/congvu.toml is a real setup.

[service]
data_dir = {json.dumps(str(data_dir))}
hostname = "mail.{DOMAIN}"
workers = 1
# Each listener has a fixed role, so no client needs trusting.
trusted_networks = []
shutdown_grace = 5.0

# The trusted path: what Postfix's submission service (staff who logged in) would hand
# over. Mail here is the sender's unit's own: bound to it, signed, counted as sent.
[[listeners]]
name = "outbound"
role = "outbound"
address = "127.0.0.1"
port = 10025

# Mail from outside: verified, and refused when its From claims a unit of the province
# without that unit's DKIM signature. Before the queue (Postfix's smtpd_proxy_filter),
# as the client trying it out plays the sending server: the refusal reaches it as is.
[[listeners]]
name = "inbound"
role = "inbound"
queue = "before"
address = "127.0.0.1"
port = 10027

[next_hop]
kind = "maildir"
maildir = "maildir"

[signer.dkim]
authserv_id = "mail.{DOMAIN}"

# The record DNS would publish for this key is in {DKIM_RECORD}.
[[signer.dkim.keys]]
domain = "{DOMAIN}"
selector = "{SELECTOR}"
key_file = "dkim/{SELECTOR}.{DOMAIN}.pem"

# The staff of the People's Committee's office send as the committee too.
[[signer.send_as]]
unit = "van-phong-ubnd"
as_units = ["ubnd-tinh"]

[signer.smime]
# The test CA (smime/ca.pem, TEST ONLY): inbound S/MIME signatures chain to it, and
# so do the signatures inside documents; its CRL answers their revocation check.
trust_anchors = ["smime/ca.pem"]
crls = ["smime/ca.crl"]
{identities}
[directory]
title = "Danh bạ thư điện tử công vụ tỉnh Ví Dụ (thử nghiệm)"
"""


def _units_csv(certificates: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["id", "name", "parent", "address", "short_name", "kind", "aliases",
                     "dkim_domain", "senders", "certificate"])
    for u in UNITS:
        writer.writerow([u.id, u.name, u.parent, u.address, u.short_name, u.kind,
                         ";".join(u.aliases), DOMAIN, ";".join(u.senders),
                         certificates[u.id]])
    return out.getvalue()


def _populate(config: CongvuConfig) -> str:
    """Write keys, certificates, the directory, the administrator; return the password."""
    data = config.data_dir
    dkim_dir = data / "dkim"
    dkim_dir.mkdir(mode=0o700)
    key = generate_private_key(Algorithm.RSA_SHA256)
    write_private_key(key, dkim_dir / f"{SELECTOR}.{DOMAIN}.pem")
    (data / DKIM_RECORD).write_text(key_record(key) + "\n", encoding="ascii")

    smime_dir = data / "smime"
    smime_dir.mkdir(mode=0o700)
    ca = TestCa.create()
    ca.write(smime_dir / "ca.pem")
    ca.write_crl(smime_dir / "ca.crl")
    certificates = {
        u.id: ca.issue(u.name, (u.address, *u.aliases), smime_dir, u.id).decode("ascii")
        for u in UNITS}

    units_csv = _units_csv(certificates)
    (data / "example-units.csv").write_text(units_csv, encoding="utf-8")
    with Directory.open(config.directory.path) as store:
        store.import_csv(units_csv, actor=ACTOR)

    from web.users import UserStore  # the console's store only when writing the example

    password = secrets.token_urlsafe(12)
    with UserStore(web_settings(config).users_path) as users:
        users.add(ADMIN, password, is_admin=True)
    with AuditLog.open(config.audit) as log:
        log.admin(AdminEvent(kind=AdminKind.USER_GRANT, actor=ACTOR, target=ADMIN,
                             details={"action": "add-admin", "via": "example"}))
    return password


def load(data_dir: Path) -> Loaded:
    """Load tỉnh Ví Dụ into ``data_dir``, or find it already loaded there.

    :raises ExampleError: ``data_dir`` holds something else (another setup's state).
    """
    config_path = data_dir / CONFIG_NAME
    if config_path.is_file():
        return Loaded(config_path, None)
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise ExampleError(
            f"{data_dir} holds another setup's state, and the example needs a data "
            f"directory of its own: remove it (rm -rf {data_dir}) or set CONGVU_VAR to "
            "another directory")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.example-", dir=data_dir.parent))
    try:
        staged = parse_config(tomllib.loads(_toml(staging)), source=CONFIG_NAME)
        password = _populate(staged)
        (staging / CONFIG_NAME).write_text(_toml(data_dir), encoding="utf-8")
        if data_dir.exists():
            data_dir.rmdir()
        staging.rename(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Loaded(config_path, password)


@click.group("example")
def example_command() -> None:
    """A fictional province to try congvu out on (make run); never for real mail."""


@example_command.command("load")
def load_command() -> None:
    """Write tỉnh Ví Dụ (tinh-vi-du.test) and var/example.toml into the data directory.

    The data directory is $CONGVU_VAR, else ./var; it must be empty or absent. Prints the
    console administrator's password, once. Loading again changes nothing.
    """
    # The embedded defaults' data directory, never a configured one: the example must
    # not land in a real setup's state.
    data_dir = load_config(None).data_dir
    loaded = load(data_dir)
    config = loaded.config_path
    if loaded.password is None:
        click.echo(f"congvu example: tỉnh Ví Dụ is already loaded in {data_dir} "
                   f"({config}); its administrator password was printed when it was "
                   f"loaded. To start over: rm -rf {data_dir}")
        return
    click.echo(
        f"congvu example: loaded tỉnh Ví Dụ ({DOMAIN}, {len(UNITS)} units; test keys and "
        f"a test CA, FOR TRYING OUT ONLY) into {data_dir}\n"
        f"  configuration: {config} (use it with --config)\n"
        f"  console: http://127.0.0.1:8080/login  user {ADMIN}  password {loaded.password}\n"
        "  (the password is shown only this once)\n"
        f"  to start over: rm -rf {data_dir}")
