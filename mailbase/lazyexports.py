"""A package's public names, each imported when it is first read (PEP 562).

Every package re-exports its public names from its root, so other packages import
them from one place. Importing every module of every package at once made each
``congvu`` command pay for all of them (``congvu --help`` imported about a thousand
modules, the DKIM, PDF and PostgreSQL libraries among them): a package root instead
names the module each public name lives in, and :func:`lazy_exports` imports that
module the first time the name is read, so reading ``[audit]``'s model imports the
model, not the audit store.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, Sequence[str]]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``'s root module.

    :param homes: module -> the names the package exports from it, each ``"name"`` or
        ``"name as exported"``, as in the ``import`` statement a type checker reads.
    """
    found: dict[str, tuple[str, str]] = {}
    for module, names in homes.items():
        for entry in names:
            name, _, exported = entry.partition(" as ")
            found[exported or name] = (module, name)

    def __getattr__(name: str) -> Any:
        if name not in found:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, original = found[name]
        value = getattr(importlib.import_module(module), original)
        setattr(sys.modules[package], name, value)  # read once: the next read is plain
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *found})

    return __getattr__, __dir__
