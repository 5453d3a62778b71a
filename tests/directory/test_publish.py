"""Publishing, checked by real consumers: vobject, an LDIF parser, jsonschema, postmap."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import ldif
import pytest
import vobject
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from directory import FILE_NAMES, Directory
from mailbase import fold
from support.postfix import write_config
from support.province import province_rows, to_csv

POSTMAP = shutil.which("postmap") or "/usr/sbin/postmap"
NODE = shutil.which("node")


def test_exactly_the_contracted_file_names(published: Path) -> None:
    found = {str(p.relative_to(published)) for p in published.rglob("*") if p.is_file()}
    cards = {name for name in found if name.startswith("vcard/")}
    assert found - cards == set(FILE_NAMES)
    assert len(cards) == 999  # every active unit; the merged commune has none
    assert "vcard/so-tai-chinh.vcf" in cards


# -- vCard 3.0 ------------------------------------------------------------------


def test_the_address_book_parses_with_vobject(published: Path) -> None:
    cards = list(vobject.readComponents(published.joinpath("directory.vcf").read_text("utf-8")))
    assert len(cards) == 999
    by_uid = {card.uid.value: card for card in cards}
    finance = by_uid["so-tai-chinh"]
    assert finance.version.value == "3.0"
    assert finance.fn.value == "Sở Tài chính"
    assert finance.org.value == ["Ủy ban nhân dân tỉnh Lào Cai", "Sở Tài chính"]
    assert [e.value for e in finance.contents["email"]] == [
        "so-tai-chinh@laocai.gov.vn", "vanthu.so-tai-chinh@laocai.gov.vn"]
    assert finance.note.value == "Department of Finance"
    # commas and semicolons in names survive escaping
    culture = by_uid["so-van-hoa"]
    assert culture.fn.value == "Sở Văn hóa, Thể thao và Du lịch"


def test_each_unit_card_is_one_vcard(published: Path) -> None:
    text = published.joinpath("vcard", "bac-ha-vp.vcf").read_bytes()
    assert text.startswith(b"BEGIN:VCARD\r\nVERSION:3.0\r\n")
    assert all(len(line) <= 75 for line in text.split(b"\r\n"))
    card = vobject.readOne(text.decode("utf-8"))
    assert card.fn.value == "Văn phòng HĐND và UBND Bắc Hà"
    assert card.org.value == ["Ủy ban nhân dân tỉnh Lào Cai", "UBND Huyện Bắc Hà",
                              "Văn phòng HĐND và UBND Bắc Hà"]


# -- LDIF -----------------------------------------------------------------------


def test_the_ldif_parses_and_holds_every_active_unit(published: Path) -> None:
    with published.joinpath("directory.ldif").open("rb") as handle:
        records = dict(ldif.LDIFParser(handle, strict=True).parse())
    assert len(records) == 1 + 999
    entry = records["uid=so-tai-chinh,ou=units,dc=laocai,dc=gov,dc=vn"]
    assert "inetOrgPerson" in entry["objectClass"]
    assert entry["cn"] == ["Sở Tài chính"]
    assert entry["o"] == ["Ủy ban nhân dân tỉnh Lào Cai"]
    assert entry["mail"] == ["so-tai-chinh@laocai.gov.vn", "vanthu.so-tai-chinh@laocai.gov.vn"]
    commune = records["uid=bac-ha-vp,ou=units,dc=laocai,dc=gov,dc=vn"]
    assert commune["ou"] == ["UBND Huyện Bắc Hà"]


# -- JSON -----------------------------------------------------------------------


def test_the_json_follows_its_published_schema(published: Path) -> None:
    schema = json.loads(published.joinpath("directory.schema.json").read_text("utf-8"))
    data = json.loads(published.joinpath("directory.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert (schema["$id"], schema["title"]) == ("directory.schema.json", "congvu unit directory")
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert len(data["units"]) == 1000
    assert data["units"][0]["id"] == "ubnd-tinh"
    unit = next(u for u in data["units"] if u["id"] == "bac-ha-vp")
    assert unit["ancestors"] == ["bac-ha", "ubnd-tinh"]
    assert "senders" not in unit
    bad = {**data, "units": [{**data["units"][0], "active": "yes"}]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)


def test_the_published_csv_leaves_out_senders_and_imports_back(
    published: Path, tmp_path: Path,
) -> None:
    text = published.joinpath("directory.csv").read_text("utf-8")
    assert "senders" not in text.splitlines()[0]
    with Directory.open(tmp_path / "d.sqlite3") as directory:
        assert len(directory.import_csv(text).created) == 1000


# -- Postfix --------------------------------------------------------------------


@pytest.fixture(scope="module")
def postmap(tmp_path_factory: pytest.TempPathFactory, published: Path) -> Path:
    """A writable copy of the maps, hashed with postmap against a minimal main.cf."""
    if not Path(POSTMAP).exists():
        pytest.skip("postmap is not installed (Debian's postfix package)")
    tmp_path = tmp_path_factory.mktemp("postmap")
    config = tmp_path / "postfix-config"
    config.mkdir()
    write_config(config / "main.cf", "compatibility_level = 3.6\n")
    maps = tmp_path / "maps"
    shutil.copytree(published / "postfix", maps)
    for name in ("recipients", "virtual", "sender_logins"):
        subprocess.run([POSTMAP, "-c", str(config), f"hash:{maps / name}"], check=True)
    return maps


def query(maps: Path, table: str, key: str) -> str | None:
    config = maps.parent / "postfix-config"
    done = subprocess.run([POSTMAP, "-c", str(config), "-q", key, f"hash:{maps / table}"],
                          capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.strip() if done.returncode == 0 else None


def test_postfix_recipients_accept_official_addresses_only(postmap: Path) -> None:
    assert query(postmap, "recipients", "so-tai-chinh@laocai.gov.vn") == "OK"
    assert query(postmap, "recipients", "VanThu.So-Tai-Chinh@LaoCai.gov.vn") == "OK"
    assert query(postmap, "recipients", "ubnd@xn--lo-cai-ita.gov.vn") == "OK"
    assert query(postmap, "recipients", "nobody@laocai.gov.vn") is None


def test_postfix_virtual_maps_aliases_and_forwards_merged_units(postmap: Path) -> None:
    rows = province_rows(1000)
    merged, successor = rows[-1], rows[-2]
    assert query(postmap, "virtual", "vanthu@laocai.gov.vn") == "ubnd@laocai.gov.vn"
    assert query(postmap, "virtual", merged["address"]) == successor["address"]
    assert query(postmap, "recipients", merged["address"]) == "OK"
    assert query(postmap, "virtual", "so-tai-chinh@laocai.gov.vn") is None


def test_postfix_sender_logins_name_each_units_staff(postmap: Path) -> None:
    owners = "vt.so-tai-chinh, ld.so-tai-chinh"
    assert query(postmap, "sender_logins", "so-tai-chinh@laocai.gov.vn") == owners
    assert query(postmap, "sender_logins", "vanthu.so-tai-chinh@laocai.gov.vn") == owners
    assert query(postmap, "sender_logins", "bac-ha-vp@bac-ha.laocai.gov.vn") is None
    merged = province_rows(1000)[-1]
    assert query(postmap, "sender_logins", merged["address"]) is None


# -- HTML -----------------------------------------------------------------------


class _Tree(HTMLParser):
    """Collects the page's unit items, their nesting, and any external resource."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str | None] = []
        self.parent_of: dict[str, str | None] = {}
        self.fold_of: dict[str, str] = {}
        self.external: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "img", "link", "iframe", "object", "embed") and (
                found.get("src") or found.get("href")):
            self.external.append(f"{tag} {found}")
        if tag == "script":
            self._in_script = True
        if tag == "li":
            unit_id = (found.get("id") or "").removeprefix("u-")
            parents = [item for item in self.stack if item]
            self.parent_of[unit_id] = parents[-1] if parents else None
            self.fold_of[unit_id] = found.get("data-fold") or ""
            self.stack.append(unit_id)
        elif tag == "ul":
            self.stack.append(None)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("li", "ul"):
            self.stack.pop()
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


@pytest.fixture(scope="module")
def page(published: Path) -> _Tree:
    tree = _Tree()
    text = published.joinpath("index.html").read_text("utf-8")
    tree.feed(text)
    assert "url(" not in text and "@import" not in text
    return tree


def test_the_page_is_one_offline_file_with_the_tree_of_active_units(page: _Tree) -> None:
    assert page.external == []
    rows = {row["id"]: row for row in province_rows(1000) if row["active"] != "no"}
    assert page.parent_of == {unit_id: row["parent"] or None for unit_id, row in rows.items()}
    assert "so tai chinh" in page.fold_of["so-tai-chinh"]


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_pages_javascript_folds_like_mailbase(page: _Tree, tmp_path: Path) -> None:
    names = [row["name"] for row in province_rows(1000)] + ["ĐẮK LẮK", "Thừa Thiên Huế"]
    script = "".join(page.scripts).split("const items")[0]
    program = tmp_path / "fold.js"
    program.write_text(script + "\nconst names = JSON.parse(require('fs').readFileSync(0));"
                       "\nprocess.stdout.write(JSON.stringify(names.map(fold)));\n")
    done = subprocess.run([str(NODE), str(program)], input=json.dumps(names), text=True,
                          capture_output=True, check=True)
    assert json.loads(done.stdout) == [fold(name) for name in names]


# The page's own search code, run by node over the page's tree with a small
# stand-in for the few DOM calls it makes (no browser is installed here).
_DOM_SHIM = """
const tree = JSON.parse(require('fs').readFileSync(0));
class ClassList { constructor() { this.set = new Set(); }
  toggle(name, on) { if (on) this.set.add(name); else this.set.delete(name); }
  contains(name) { return this.set.has(name); } }
const byId = {};
const all = tree.order.map(id => {
  const li = { id, dataset: { fold: tree.fold[id] }, classList: new ClassList(),
               firstElementChild: { classList: new ClassList() } };
  byId[id] = li; return li; });
for (const li of all) {
  li.querySelectorAll = () => tree.children[li.id].map(c => byId[c]); }
const listeners = {};
const elements = { count: { textContent: '' },
  q: { addEventListener: (type, fn) => { listeners.input = fn; } },
  tree: { addEventListener: () => {} } };
global.document = { querySelectorAll: () => all,
                    getElementById: id => elements[id] };
global.window = {}; global.navigator = {};
"""

_DOM_RUN = """
const results = {};
for (const query of tree.queries) {
  listeners.input({ target: { value: query } });
  results[query] = { shown: all.filter(li => !li.classList.contains('hidden')).map(li => li.id),
                     matched: all.filter(li => li.firstElementChild.classList.contains('match'))
                                 .map(li => li.id),
                     count: elements.count.textContent };
}
process.stdout.write(JSON.stringify(results));
"""


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_pages_search_as_you_type(page: _Tree, tmp_path: Path) -> None:
    children: dict[str, list[str]] = {unit_id: [] for unit_id in page.parent_of}
    for unit_id, parent in page.parent_of.items():
        if parent:
            children[parent].append(unit_id)
    queries = ["so tai chinh", "SỞ  TÀI   CHÍNH", "Sở Tài chính", "van phong hdnd bac ha",
               "zzz", "", "ai chinh", "chinh tai so"]
    data = {"order": list(page.parent_of), "fold": page.fold_of, "children": children,
            "queries": queries}
    program = tmp_path / "search.js"
    program.write_text(_DOM_SHIM + "".join(page.scripts) + _DOM_RUN, encoding="utf-8")
    done = subprocess.run([str(NODE), str(program)], input=json.dumps(data), text=True,
                          capture_output=True, check=True)
    results = json.loads(done.stdout)
    for query in queries[:3]:
        assert results[query]["matched"] == ["so-tai-chinh"], query
        assert sorted(results[query]["shown"]) == ["so-tai-chinh", "ubnd-tinh"]
        assert results[query]["count"] == "1 đơn vị khớp"
    assert sorted(results["van phong hdnd bac ha"]["shown"]) == ["bac-ha", "bac-ha-vp", "ubnd-tinh"]
    assert results["zzz"] == {"shown": [], "matched": [], "count": "0 đơn vị khớp"}
    # a word matches where a word begins ('ai' is inside 'tai'), in any order
    assert "so-tai-chinh" not in results["ai chinh"]["matched"]
    assert "so-tai-chinh" in results["chinh tai so"]["matched"]
    assert len(results[""]["shown"]) == 999 and results[""]["count"] == ""


# -- certificates ---------------------------------------------------------------


def _certificate(address: str) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.EMAIL_ADDRESS, address)])
    now = dt.datetime.now(dt.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def test_certificates_reach_vcard_ldif_and_json(tmp_path: Path) -> None:
    cert = _certificate("stc@laocai.gov.vn")
    pem = cert.public_bytes(Encoding.PEM).decode("ascii")
    rows = [{"id": "tinh", "name": "UBND", "parent": "", "address": "ubnd@laocai.gov.vn",
             "certificate": ""},
            {"id": "stc", "name": "Sở Tài chính", "parent": "tinh",
             "address": "stc@laocai.gov.vn", "certificate": pem}]
    with Directory.open(tmp_path / "d.sqlite3") as directory:
        directory.import_csv(to_csv(rows, columns=list(rows[0])))
        assert directory.get("stc").certificate == pem
        directory.publish(tmp_path / "out", ldap_base="dc=example,dc=vn")
    der = cert.public_bytes(Encoding.DER)
    card = vobject.readOne((tmp_path / "out/vcard/stc.vcf").read_text("utf-8"))
    assert card.key.value == der
    with (tmp_path / "out/directory.ldif").open("rb") as handle:
        records = dict(ldif.LDIFParser(handle).parse())
    assert records["uid=stc,ou=units,dc=example,dc=vn"]["userCertificate;binary"] == [der]
    data = json.loads((tmp_path / "out/directory.json").read_text("utf-8"))
    assert data["units"][1]["certificate"] == pem
    unfolded = (tmp_path / "out/vcard/stc.vcf").read_bytes().decode().replace("\r\n ", "")
    assert f"KEY;ENCODING=b;TYPE=X509:{base64.b64encode(der).decode()}\r\n" in unfolded


def test_publishing_again_removes_cards_of_units_no_longer_active(tmp_path: Path) -> None:
    text = "id,name,parent,address\ntinh,UBND,,ubnd@laocai.gov.vn\nstc,STC,tinh,stc@laocai.gov.vn\n"
    with Directory.open(tmp_path / "d.sqlite3") as directory:
        directory.import_csv(text)
        directory.publish(tmp_path / "out")
        assert (tmp_path / "out/vcard/stc.vcf").exists()
        directory.import_csv(text.replace("stc,STC,tinh,stc@laocai.gov.vn\n", ""))
        directory.publish(tmp_path / "out")
    assert not (tmp_path / "out/vcard/stc.vcf").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")) == []
