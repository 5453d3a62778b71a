"""The few primitives every congvu package shares.

One strict parser for addresses and the From header, Vietnamese text folding for
search, and the time zone rules for reports and command-line dates. A leaf: it is
small, stateless, does no I/O and imports nothing of ours.
"""

from mailbase.addresses import (
    Address,
    AddressError,
    FromHeaderError,
    parse_address,
    parse_from,
)
from mailbase.folding import fold
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
    "Address",
    "AddressError",
    "FromHeaderError",
    "Period",
    "PeriodError",
    "fold",
    "parse_address",
    "parse_from",
    "parse_local_datetime",
    "parse_period",
    "zone",
]
