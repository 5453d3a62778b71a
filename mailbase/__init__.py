"""The few primitives every congvu package shares.

One strict parser for addresses, the header block read once, the one reader of the
From header (and, apart, the other readings that only detect ambiguity), Vietnamese
text folding for search, the time zone rules for reports and command-line dates,
the catalogues of the words a person reads (gettext .po files, read with Babel) and
the reasons a verdict gives (a stable code, named parameters, a template per language),
whether a message has a line over SMTP's and MIME's limit,
the text of every SMTP reply congvu writes (Vietnamese without diacritics / English),
what every package's commands share (the two failures, ``--config``), and the two rules
for private files on disk (a secret is read only when nobody else could have changed
it; a store is created 0600 in a 0700 directory whatever the umask), and the switch of
an SQLite store to WAL mode that waits for another process opening it. A leaf: it is
small, stateless and imports nothing of ours; its only I/O is those file rules.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbase.addresses import (
        Address,
        AddressError,
        FromHeaderError,
        parse_address,
    )
    from mailbase.catalogue import (
        DEFAULT_LANGUAGE,
        LANGUAGES,
        N_,
        NP_,
        Catalogue,
        Translation,
        lang_option,
    )
    from mailbase.commandline import (
        CommandFailed,
        UsageProblem,
        command_line_actor,
        config_option,
        wired,
    )
    from mailbase.folding import fold
    from mailbase.header import (
        HeaderBlock,
        HeaderDefect,
        HeaderDefectKind,
        HeaderField,
        header_bytes,
        read_header,
    )
    from mailbase.private_files import (
        UnsafeFileError,
        create_private,
        private_database,
        private_dir,
        private_file,
        read_secret,
        sync_directory,
        write_private_durably,
    )
    from mailbase.reasons import Reason, ReasonBook, ReasonCode
    from mailbase.replytext import REPLY_SEPARATOR, ascii_line, reply_text
    from mailbase.sender import (
        NO_DOMAINS,
        FromVerdict,
        ProvincialDomains,
        from_values_block,
        parse_from,
        read_from,
    )
    from mailbase.storeurl import check_store_url
    from mailbase.timezones import (
        DEFAULT_ZONE,
        Period,
        PeriodError,
        parse_local_datetime,
        parse_period,
        zone,
    )
    from mailbase.walmode import use_wal
else:
    from mailbase.lazyexports import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {
        "mailbase.addresses": ("Address", "AddressError", "FromHeaderError", "parse_address"),
        "mailbase.catalogue": (
            "DEFAULT_LANGUAGE", "LANGUAGES", "N_", "NP_", "Catalogue", "Translation",
            "lang_option",
        ),
        "mailbase.commandline": (
            "CommandFailed", "UsageProblem", "command_line_actor", "config_option", "wired",
        ),
        "mailbase.folding": ("fold",),
        "mailbase.header": (
            "HeaderBlock", "HeaderDefect", "HeaderDefectKind", "HeaderField",
            "header_bytes", "read_header",
        ),
        "mailbase.private_files": (
            "UnsafeFileError", "create_private", "private_database", "private_dir",
            "private_file", "read_secret", "sync_directory", "write_private_durably",
        ),
        "mailbase.reasons": ("Reason", "ReasonBook", "ReasonCode"),
        "mailbase.replytext": ("REPLY_SEPARATOR", "ascii_line", "reply_text"),
        "mailbase.sender": (
            "NO_DOMAINS", "FromVerdict", "ProvincialDomains", "from_values_block",
            "parse_from", "read_from",
        ),
        "mailbase.storeurl": ("check_store_url",),
        "mailbase.timezones": (
            "DEFAULT_ZONE", "Period", "PeriodError", "parse_local_datetime", "parse_period",
            "zone",
        ),
        "mailbase.walmode": ("use_wal",),
    })

__all__ = [
    "DEFAULT_LANGUAGE",
    "DEFAULT_ZONE",
    "LANGUAGES",
    "NO_DOMAINS",
    "NP_",
    "N_",
    "REPLY_SEPARATOR",
    "Address",
    "AddressError",
    "Catalogue",
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
    "Reason",
    "ReasonBook",
    "ReasonCode",
    "Translation",
    "UnsafeFileError",
    "UsageProblem",
    "ascii_line",
    "check_store_url",
    "command_line_actor",
    "config_option",
    "create_private",
    "fold",
    "from_values_block",
    "header_bytes",
    "lang_option",
    "parse_address",
    "parse_from",
    "parse_local_datetime",
    "parse_period",
    "private_database",
    "private_dir",
    "private_file",
    "read_from",
    "read_header",
    "read_secret",
    "reply_text",
    "sync_directory",
    "use_wal",
    "wired",
    "write_private_durably",
    "zone",
]
