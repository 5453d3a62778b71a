"""The units of the province and their official addresses, certificates and domains.

:class:`Directory` is the store (import, read, export, publish; units and the
private roster of officials' mailboxes); :class:`DirectoryIndex` is the in-memory
index the filter asks per message.
"""

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
from directory.publish import FILE_NAMES, publish
from directory.roster import RosterFormat
from directory.search import search_units
from directory.store import Change, Directory, ImportSummary
from directory.successors import merged_into, predecessors, rolled_into

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
    "publish",
    "rolled_into",
    "search_units",
]
