"""Command-line sub-commands of signer/ (composed into ``congvu`` by milter/)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from signer.cli.auth import OwnDomains, auth_group
from signer.cli.dkim import dkim_group
from signer.cli.document import document_group
from signer.cli.smime import smime_group
from signer.config import SignerConfig

ConfigLoader = Callable[[Path | None], SignerConfig]


def commands(load: ConfigLoader, *, own_domains: OwnDomains | None = None
             ) -> list[click.Command]:
    """The top-level command groups this package adds to ``congvu``.

    :param own_domains: the province's own domains for ``auth check`` (milter passes
        the directory's).
    """
    return [dkim_group(load), smime_group(load), document_group(load),
            auth_group(load, own_domains=own_domains)]
