"""Command-line sub-commands of signer/ (composed into ``congvu`` by congvu/cli.py)."""

from __future__ import annotations

import click

from signer.cli.auth import auth_group
from signer.cli.dkim import dkim_group
from signer.cli.document import document_group
from signer.cli.smime import smime_group
from signer.cli.wiring import ConfigLoader, OwnDomains, TimeZoneName, UnitsOpener


def commands(load: ConfigLoader, *, own_domains: OwnDomains | None = None,
             units: UnitsOpener | None = None,
             time_zone: TimeZoneName | None = None) -> list[click.Command]:
    """The top-level command groups this package adds to ``congvu``.

    :param load: the ``[signer]`` table for ``--config`` (the root supplies it).
    :param own_domains: the province's own domains for ``auth check`` (the root passes
        the directory's).
    :param units: opens the configured directory for ``document verify`` (roles).
    :param time_zone: the province's zone, in which ``document verify --explain`` shows
        times (the root passes ``[audit] time_zone``).
    """
    return [dkim_group(load), smime_group(load),
            document_group(load, units=units, time_zone=time_zone),
            auth_group(load, own_domains=own_domains)]
