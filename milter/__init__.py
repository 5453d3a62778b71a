"""The congvu service: a content filter beside Postfix.

milter/ speaks SMTP and LMTP to Postfix as an after-queue content filter (Postfix's
``content_filter`` and reinjection listener); despite its name it does not speak the
Sendmail milter protocol. It owns the SMTP side, the pipeline of stages, the next hop,
the worker processes and signals, the root ``congvu`` command and the composed
configuration.
"""

from milter.config import CongvuConfig, Direction, Role, load_config, parse_config
from milter.errors import ConfigError, MilterError, NextHopError

__all__ = [
    "ConfigError",
    "CongvuConfig",
    "Direction",
    "MilterError",
    "NextHopError",
    "Role",
    "load_config",
    "parse_config",
]
