"""The units of the province and their official addresses, certificates and domains.

:class:`Directory` is the store (import, read, export, publish; units and the
private roster of officials' mailboxes); :class:`DirectoryIndex` is the in-memory
index the filter asks per message.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from directory.cli import DirectoryChanged, commands
    from directory.config import DirectoryConfig
    from directory.errors import (
        DirectoryError,
        ImportRejected,
        ImportRowError,
        StoreError,
        UnknownUnit,
    )
    from directory.index import DirectoryIndex
    from directory.model import Address, InvalidAddress, Mailbox, Unit, parse_official_address
    from directory.publish import FILE_NAMES
    from directory.roster import RosterFormat
    from directory.search import search_units
    from directory.store import Change, Directory, ImportSummary
    from directory.successors import merged_into, predecessors, rolled_into
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "directory.cli": ("DirectoryChanged", "commands"),
        "directory.config": ("DirectoryConfig",),
        "directory.errors": (
            "DirectoryError", "ImportRejected", "ImportRowError", "StoreError",
            "UnknownUnit",
        ),
        "directory.index": ("DirectoryIndex",),
        "directory.model": (
            "Address", "InvalidAddress", "Mailbox", "Unit", "parse_official_address",
        ),
        "directory.publish": ("FILE_NAMES",),
        "directory.roster": ("RosterFormat",),
        "directory.search": ("search_units",),
        "directory.store": ("Change", "Directory", "ImportSummary"),
        "directory.successors": ("merged_into", "predecessors", "rolled_into"),
    })

__all__ = [
    "FILE_NAMES",
    "Address",
    "Change",
    "Directory",
    "DirectoryChanged",
    "DirectoryConfig",
    "DirectoryError",
    "DirectoryIndex",
    "ImportRejected",
    "ImportRowError",
    "ImportSummary",
    "InvalidAddress",
    "Mailbox",
    "RosterFormat",
    "StoreError",
    "Unit",
    "UnknownUnit",
    "commands",
    "merged_into",
    "parse_official_address",
    "predecessors",
    "rolled_into",
    "search_units",
]
