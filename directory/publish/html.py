"""The public page: one HTML file that works offline (no external resources).

The tree of units is written into the page as nested lists, so it reads and
prints without JavaScript; each item carries its text folded by
:func:`mailbase.fold` (``data-fold``, :mod:`directory.search`), and a small script
folds what is typed the same way and hides what does not match every word (each
word beginning a word of the unit's text, as the console's search), keeping the
parents of what does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from html import escape
from importlib.resources import files

from directory.model import Unit
from directory.search import searchable


def _item(unit: Unit) -> str:
    parts = [f'<span class="name">{escape(unit.name)}</span>']
    if unit.short_name:
        parts.append(f' <span class="short">({escape(unit.short_name)})</span>')
    if unit.name_en:
        parts.append(f' <span class="en">· {escape(unit.name_en)}</span>')
    parts.append("<br>")
    for index, address in enumerate(unit.addresses):
        spec = escape(address.addr_spec)
        shown = escape(f"{address.local}@{address.unicode_domain}")
        kind = "primary" if index == 0 else "alias"
        parts.append(
            f'<span class="{kind}"><a class="addr" href="mailto:{spec}" title="{spec}">'
            f'{shown}</a>'
            f'<button class="copy" type="button" data-address="{spec}">Sao chép</button></span>'
        )
    contact = [escape(unit.phone)] if unit.phone else []
    if unit.website:
        site = escape(unit.website)
        contact.append(f'<a href="{site}">{site}</a>')
    if contact:
        parts.append(f'<br><span class="contact">{" · ".join(contact)}</span>')
    return (f'<li id="u-{escape(unit.id)}" data-fold="{escape(searchable(unit))}">'
            f'<div class="unit">{"".join(parts)}</div>')


def page(units: Sequence[Unit], *, title: str, generated: datetime) -> str:
    """The HTML page for these units (active ones are what a caller should pass)."""
    known = {unit.id for unit in units}
    children: dict[str | None, list[Unit]] = defaultdict(list)
    for unit in units:
        children[unit.parent if unit.parent in known else None].append(unit)

    def branch(parent: str | None) -> str:
        out = []
        for unit in children.get(parent, []):
            below = branch(unit.id)
            out.append(_item(unit) + (f"\n<ul>\n{below}\n</ul>" if below else "") + "</li>")
        return "\n".join(out)

    template = files("directory.publish").joinpath("page.html").read_text(encoding="utf-8")
    return (template.replace("__TITLE__", escape(title))
            .replace("__COUNT__", str(len(units)))
            .replace("__GENERATED__", escape(generated.strftime("%Y-%m-%d %H:%M %Z").strip()))
            .replace("__TREE__", branch(None)))
