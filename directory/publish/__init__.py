"""Publishing: every file people and servers read the directory from, in one folder.

The file names are a contract (scripts and web servers rely on them):
``index.html``, ``directory.json``, ``directory.schema.json``, ``directory.vcf``,
``vcard/<id>.vcf``, ``directory.ldif``, ``directory.csv``, ``postfix/recipients``,
``postfix/virtual`` and ``postfix/sender_logins``. Each file is written beside its
final name and renamed into place, so a reader never sees half a file.

Address books (HTML, vCard, LDIF) list the units in service on the day of the
publish (active, and not past ``valid_until``); the JSON and CSV list every unit
with its ``active`` flag and dates; none of the public files lists ``senders``.
The roster of officials' mailboxes is private: it is only in the two Postfix maps
the mail server needs (``recipients`` and ``sender_logins``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from directory.model import Mailbox, Unit, ancestry, tree_order
from directory.publish import html, ldif, postfix, vcard
from directory.published import export_csv, export_json, json_schema
from mailbase import zone

#: The names of the files :func:`publish` writes, relative to its folder
#: (plus one ``vcard/<id>.vcf`` per active unit).
FILE_NAMES = (
    "index.html", "directory.json", "directory.schema.json", "directory.vcf",
    "directory.ldif", "directory.csv", "postfix/recipients", "postfix/virtual",
    "postfix/sender_logins",
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_bytes(text.encode("utf-8"))
    os.replace(partial, path)


def publish(
    units: Sequence[Unit], out_dir: Path, *, title: str = "Danh bạ thư điện tử công vụ",
    ldap_base: str | None = None, now: datetime | None = None,
    mailboxes: Sequence[Mailbox] = (),
) -> list[Path]:
    """Write every published file for ``units`` into ``out_dir``; return their paths.

    ``ldap_base`` is the LDIF base DN (default: the root unit's domain as
    ``dc=`` components); ``title`` heads the HTML page. ``mailboxes`` (the roster)
go only into ``postfix/recipients`` and ``postfix/sender_logins``.

    :raises OSError: the folder cannot be written.
    """
    now = now or datetime.now(UTC)
    # a unit past its valid_until is ended in the address books and the Postfix maps
    # as of this day
    today = now.astimezone(zone()).date()
    ordered = tree_order(units)
    by_id = {unit.id: unit for unit in ordered}
    chains = ancestry(by_id)
    names = {unit.id: unit.name for unit in ordered}
    active = [unit for unit in ordered if unit.in_service(today)]
    if ldap_base is None:
        root = ordered[0].address.domain if ordered else "example.invalid"
        ldap_base = ldif.base_dn_for(root)
    cards = {unit.id: vcard.card(unit, names, chains[unit.id]) for unit in active}
    outputs = {
        "index.html": html.page(active, title=title, generated=now.astimezone(zone())),
        "directory.json": export_json(ordered, chains, now=now),
        "directory.schema.json": json.dumps(json_schema(), ensure_ascii=False, indent=1) + "\n",
        "directory.vcf": "".join(cards.values()),
        "directory.ldif": ldif.entries(active, names, chains, ldap_base),
        "directory.csv": export_csv(ordered, include_senders=False),
        "postfix/recipients": postfix.recipients(by_id, mailboxes, today=today),
        "postfix/virtual": postfix.virtual(by_id, today=today),
        "postfix/sender_logins": postfix.sender_logins(by_id, mailboxes, today=today),
    }
    written = []
    for name, text in outputs.items():
        _write(out_dir / name, text)
        written.append(out_dir / name)
    card_dir = out_dir / "vcard"
    for unit_id, text in cards.items():
        _write(card_dir / f"{unit_id}.vcf", text)
        written.append(card_dir / f"{unit_id}.vcf")
    # a unit that became inactive leaves no stale card behind
    for stale in card_dir.glob("*.vcf"):
        if stale.stem not in cards:
            stale.unlink()
    return written
