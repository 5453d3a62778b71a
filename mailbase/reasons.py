"""Why a verdict or a violation is what it is: a stable code with named parameters.

A package that judges (policies/ its violations, signer/ its verdicts) lists its reasons
in one registry module: each :class:`ReasonCode` is a stable code (stored in the audit
record, like a rule id: never renamed) and the English template it reads as, whose
``{fields}`` are its parameters. The producer calls the code with the parameters and gets
a :class:`Reason`; its English :attr:`Reason.text`, rendered from the same template, is
what stays English (logs, Authentication-Results, SMTP replies, the JSON's ``reason``),
so the two cannot drift. Where a person reads it (the console, ``--explain``) the
template is translated through the registry's catalogue, the template marked ``N_`` so
that Babel extracts it.

A parameter is a data value (a file name, a domain, a number: shown as it is, marked as
data on a page) or a nested :class:`Reason` (one finding inside another), rendered in
turn. Stored, a reason is ``{"code": ..., "params": {...}}`` with nested reasons in the
same form (:meth:`Reason.as_json`); :class:`ReasonBook` renders that form again.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailbase.catalogue import Catalogue

_FORMATTER = string.Formatter()


def _fields(template: str) -> frozenset[str]:
    return frozenset(name for _text, name, _spec, _conv in _FORMATTER.parse(template)
                     if name is not None)


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason: its code, its parameters, and the English template they fill."""

    code: str
    template: str
    params: Mapping[str, str | int | float | Reason] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The reason in English, as logs, headers, replies and JSON keep it."""
        return self.template.format_map({
            name: value.text if isinstance(value, Reason) else value
            for name, value in self.params.items()})

    def as_json(self) -> dict[str, Any]:
        """The stored form: ``{"code": ..., "params": {...}}``, nested reasons alike."""
        return {"code": self.code, "params": {
            name: value.as_json() if isinstance(value, Reason) else value
            for name, value in self.params.items()}}

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class ReasonCode:
    """A code of a registry and its English template (a msgid marked with ``N_``)."""

    code: str
    template: str

    @property
    def params(self) -> frozenset[str]:
        """The parameters the template names."""
        return _fields(self.template)

    def __call__(self, **params: str | int | float | Reason) -> Reason:
        """The reason with ``params``.

        :raises TypeError: a parameter the template does not name, or one it lacks
            (a programming error of the producer).
        """
        if set(params) != self.params:
            raise TypeError(f"reason {self.code} takes {sorted(self.params)}, "
                            f"given {sorted(params)}")
        return Reason(self.code, self.template, params)


@dataclass(frozen=True, slots=True)
class _Known:
    code: ReasonCode
    catalogue: Catalogue


#: how a rendering shows a data value and a piece of the template's own text
Shown = Callable[[str], str]


def _as_is(text: str) -> str:
    return text


class ReasonBook:
    """Every registry a reader knows, by code, with the catalogue of each.

    :raises ValueError: two registries use one code.
    """

    def __init__(self, registries: Iterable[tuple[Catalogue, Iterable[ReasonCode]]]) -> None:
        self._known: dict[str, _Known] = {}
        for catalogue, codes in registries:
            for code in codes:
                if code.code in self._known:
                    raise ValueError(f"reason code {code.code!r} is registered twice")
                self._known[code.code] = _Known(code, catalogue)

    def __contains__(self, code: object) -> bool:
        return code in self._known

    def render(self, stored: Mapping[str, Any], lang: str, *, value: Shown = _as_is,
               text: Shown = _as_is) -> str | None:
        """The stored reason ``{"code", "params"}`` in ``lang``, each data value shown by
        ``value`` and the template's own words by ``text`` (a page escapes both and marks
        the values as data); None when a code, or a parameter it needs, is not known
        here (the caller then shows the stored English, said to be so)."""
        known = self._known.get(str(stored.get("code")))
        params = stored.get("params")
        if known is None or not isinstance(params, Mapping):
            return None
        if set(params) != known.code.params:
            return None
        template = known.catalogue.translation(lang).gettext(known.code.template)
        if _fields(template) != known.code.params:  # a catalogue entry that lost a field
            template = known.code.template
        out: list[str] = []
        for literal, name, _spec, _conv in _FORMATTER.parse(template):
            out.append(text(literal))
            if name is None:
                continue
            param = params[name]
            if isinstance(param, Mapping):
                nested = self.render(param, lang, value=value, text=text)
                if nested is None:
                    return None
                out.append(nested)
            else:
                out.append(value(str(param)))
        return "".join(out)
