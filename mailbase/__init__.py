"""The few primitives every congvu package shares.

One strict parser for addresses, the header block read once, the one reader of the
From header (and, apart, the other readings that only detect ambiguity), Vietnamese
text folding for search, the time zone rules for reports and command-line dates, and
what every package's commands share (the two failures, ``--config``). A leaf: it is
small, stateless, does no I/O and imports nothing of ours.
"""

from mailbase.addresses import (
    Address,
    AddressError,
    FromHeaderError,
    parse_address,
)
from mailbase.commandline import CommandFailed, UsageProblem, config_option, wired
from mailbase.folding import fold
from mailbase.header import (
    HeaderBlock,
    HeaderDefect,
    HeaderDefectKind,
    HeaderField,
    header_bytes,
    read_header,
)
from mailbase.sender import (
    NO_DOMAINS,
    FromVerdict,
    ProvincialDomains,
    from_values_block,
    parse_from,
    read_from,
)
from mailbase.timezones import (
    DEFAULT_ZONE,
    Period,
    PeriodError,
    parse_local_datetime,
    parse_period,
    zone,
)

__all__ = [
    "DEFAULT_ZONE",
    "NO_DOMAINS",
    "Address",
    "AddressError",
    "CommandFailed",
    "FromHeaderError",
    "FromVerdict",
    "HeaderBlock",
    "HeaderDefect",
    "HeaderDefectKind",
    "HeaderField",
    "Period",
    "PeriodError",
    "ProvincialDomains",
    "UsageProblem",
    "config_option",
    "fold",
    "from_values_block",
    "header_bytes",
    "parse_address",
    "parse_from",
    "parse_local_datetime",
    "parse_period",
    "read_from",
    "read_header",
    "wired",
    "zone",
]
