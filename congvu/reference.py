"""The configuration reference: every option of congvu.toml, read from the models.

:func:`reference` walks :class:`~congvu.config.CongvuConfig` and every model nested in
it, and writes one Markdown section per table (``[service]``, ``[[listeners]]``,
``[signer.dkim]``...) with each option's type, default and description, the
description being the pydantic field's own. docs/configuration.md is its output
(``congvu config reference``, ``make docs``); a test keeps the committed file current,
so the reference cannot drift from the code.

Defaults are shown as written in a file, before the data directory is applied:
relative paths stay relative (they resolve under ``service.data_dir``).
"""

from __future__ import annotations

import enum
import ipaddress
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from congvu.config import CongvuConfig

_INTRO = """\
# congvu.toml: configuration reference

Generated from the configuration models by `congvu config reference` (`make docs`);
do not edit by hand. Every option is optional unless marked *required*; relative paths
resolve under the data directory (`service.data_dir`, else `$CONGVU_VAR`, else
`./var`). `congvu config show` prints the effective values of a file, `congvu config
show --defaults` the embedded defaults, and `deploy/congvu.toml` is a commented example
for a real server.
"""


@dataclass(frozen=True, slots=True)
class Option:
    """One key of one table: its type, default and meaning."""

    key: str
    kind: str
    default: str
    description: str


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the file (``[a.b]``, or ``[[a.b]]`` for an array of tables)."""

    path: str
    is_array: bool
    summary: str
    options: tuple[Option, ...]

    @property
    def heading(self) -> str:
        """The table as TOML writes its header."""
        return f"[[{self.path}]]" if self.is_array else f"[{self.path}]"


def _unwrap_optional(annotation: Any) -> Any:
    """``X`` for ``X | None`` (unset is shown as the default, not as a type)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def _items(annotation: Any) -> Any | None:
    """The item type of a list or a ``tuple[X, ...]``; None for anything else."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        return args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _model_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The nested model a field holds, and whether it is a list of them."""
    inner = _unwrap_optional(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner, False
    item = _items(inner)
    if isinstance(item, type) and issubclass(item, BaseModel):
        return item, True
    return None, False


def _kind(annotation: Any) -> str:
    inner = _unwrap_optional(annotation)
    origin = typing.get_origin(inner)
    args = typing.get_args(inner)
    if origin is typing.Literal:
        text = "one of " + ", ".join(f"`{value}`" for value in args)
    elif isinstance(inner, type) and issubclass(inner, enum.Enum):
        text = "one of " + ", ".join(f"`{member.value}`" for member in inner)
    elif _items(inner) is not None:
        text = f"list of {_plural(_kind(_items(inner)))}"
    elif origin is dict:
        text = f"table of {_kind(args[0])} to {_kind(args[1])}"
    elif origin in (typing.Union, types.UnionType):
        text = " or ".join(_kind(arg) for arg in args)
    elif origin is typing.Annotated:
        text = _kind(args[0])
    else:
        text = _SCALARS.get(inner, getattr(inner, "__name__", str(inner)))
    return text


_SCALARS: dict[Any, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    ipaddress.IPv4Network: "IPv4 network",
    ipaddress.IPv6Network: "IPv6 network",
    ipaddress.IPv4Address: "IPv4 address",
    ipaddress.IPv6Address: "IPv6 address",
}


def _plural(kind: str) -> str:
    if kind.startswith(("one of", "table of", "list of")):
        return f"({kind})"
    if " or " in kind:
        return " or ".join(_plural(part) for part in kind.split(" or "))
    return kind + ("es" if kind.endswith("s") else "s")


def _toml(value: Any) -> str:
    """A default value as it would be written in the file."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value, ensure_ascii=False, default=str)


def _key(name: str) -> str:
    return name if name.replace("_", "").replace("-", "").isalnum() else json.dumps(name)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "*required*"
    value = field.get_default(call_default_factory=True)
    if value is None or value is PydanticUndefined:
        return "unset"
    text = _toml(value)
    if text in ("[]", "{  }"):
        return "none" if text == "[]" else "empty"
    return f"`{text}`"


def _markdown(text: str) -> str:
    """One paragraph of a docstring or description, reST literals as Markdown code."""
    return " ".join(text.split()).replace("``", "`")


def _summary(model: type[BaseModel]) -> str:
    return _markdown((model.__doc__ or "").strip().split("\n\n")[0])


def tables(model: type[BaseModel] = CongvuConfig, path: str = "",
           *, is_array: bool = False) -> Iterator[Table]:
    """Every table of the file, parent before child, in the models' field order."""
    options: list[Option] = []
    nested: list[tuple[type[BaseModel], str, bool]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        sub, is_list = _model_of(field.annotation)
        if sub is not None:
            nested.append((sub, f"{path}.{key}" if path else key, is_list))
            continue
        options.append(Option(key, _kind(field.annotation), _default(field),
                              _markdown(field.description or "")))
    if path:
        yield Table(path, is_array, _summary(model), tuple(options))
    for sub, sub_path, is_list in nested:
        yield from tables(sub, sub_path, is_array=is_list)


def keys() -> set[str]:
    """Every option's dotted key path (array tables without an index)."""
    found: set[str] = set()
    for table in tables():
        found.add(table.path)
        found.update(f"{table.path}.{option.key}" for option in table.options)
    return found


def _cell(text: str) -> str:
    # "<selector>" would be read as an HTML tag by Markdown renderers.
    return text.replace("|", "\\|").replace("<", "&lt;") or "—"


#: Defaults longer than this are written in full under the table, not in its cell.
_LONG_DEFAULT = 80


def reference() -> str:
    """The whole reference, in Markdown."""
    lines = [_INTRO]
    for table in tables():
        lines += [f"## `{table.heading}`", "", table.summary, ""]
        if table.is_array:
            lines += ["An array of tables: write the header once per entry.", ""]
        if not table.options:
            continue
        lines += ["| key | type | default | meaning |", "|---|---|---|---|"]
        long: list[Option] = []
        for option in table.options:
            default = option.default
            if len(default) > _LONG_DEFAULT:
                long.append(option)
                default = "below"
            lines.append(f"| `{option.key}` | {_cell(option.kind)} | {_cell(default)} | "
                         f"{_cell(option.description)} |")
        lines.append("")
        for option in long:
            lines += [f"Default of `{table.path}.{option.key}`:", "", "```toml",
                      f"{option.key} = {option.default.strip('`')}", "```", ""]
    return "\n".join(lines)
