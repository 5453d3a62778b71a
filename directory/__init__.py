"""The units of the province and their official addresses, certificates and domains."""

from directory.cli import commands
from directory.config import DirectoryConfig
from directory.errors import DirectoryError

__all__ = ["DirectoryConfig", "DirectoryError", "commands"]
