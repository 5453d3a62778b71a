"""A configuration ``congvu serve`` builds its full pipeline from: one unit whose address
sends, with a DKIM key for its domain and an S/MIME identity for its address, and a
maildir as the next hop (tests/benchmarks/test_stage_cpu.py, tests/milter/
test_archive_words.py)."""

from __future__ import annotations

from pathlib import Path

from directory import Directory
from signer.keys import Algorithm
from support.dkim import make_key
from support.pki import TestPki


def unit_config(work: Path, address: str, *, unit: str = "bench,Phòng thử tải",
                roles: tuple[str, ...] = ("outbound",),
                algorithm: Algorithm = Algorithm.RSA_SHA256, extra: str = "") -> Path:
    """The configuration file, in ``work`` with the keys, certificates and directory:
    ``unit`` (its id and name) owns ``address``; one listener a role in ``roles``, each
    named as its role; ``extra`` is added to the file's end (tables of its own, or keys
    of ``[pipeline]``, which comes last before it)."""
    domain = address.rsplit("@", 1)[1]
    key = make_key(work, "bench", algorithm,
                   **({"bits": 2048} if algorithm is Algorithm.RSA_SHA256 else {}))
    pki = TestPki.create()
    files = pki.write(work / "pki")
    cert, cert_key = pki.issue(address).write(work / "pki", "bench")
    store = Directory.open(work / "var" / "directory.sqlite3")
    store.import_csv(f"id,name,parent,address,senders,dkim_domain\n"
                     f"{unit},,{address},{address},{domain}\n", actor="bench")
    store.close()
    listeners = "".join(f'\n[[listeners]]\nname = "{role}"\nrole = "{role}"\nport = 0\n'
                        for role in roles)
    config = work / "congvu.toml"
    config.write_text(f"""
[service]
data_dir = "{work / 'var'}"
hostname = "mail.{domain}"
{listeners}
[next_hop]
kind = "maildir"
maildir = "{work / 'maildir'}"

[[signer.dkim.keys]]
domain = "{domain}"
selector = "bench"
key_file = "{key.path}"
algorithm = "{algorithm.value}"

[signer.smime]
trust_anchors = ["{files.root}"]
intermediates = ["{files.intermediate}"]

[[signer.smime.identities]]
address = "{address}"
cert = "{cert}"
key = "{cert_key}"

[pipeline]
{extra}
""", encoding="utf-8")
    return config
