"""Command-line sub-commands of signer/ (composed into ``congvu`` by congvu/cli.py)."""

from __future__ import annotations

import click

from signer.cli.wiring import ConfigLoader, OwnDomains, TimeZoneName, UnitsOpener

#: The groups this package adds to ``congvu``, in the order :func:`commands` gives them.
GROUPS = ("dkim", "smime", "document", "auth")


def command(name: str, load: ConfigLoader, *, own_domains: OwnDomains | None = None,
            units: UnitsOpener | None = None,
            time_zone: TimeZoneName | None = None) -> click.Command:
    """The group ``name`` (one of :data:`GROUPS`) alone: each imports its own module
    only, so that ``congvu dkim`` imports no S/MIME, PDF or document code. The keyword
    arguments are :func:`commands`'; a group ignores those it does not use.

    :raises KeyError: ``name`` is none of :data:`GROUPS`.
    """
    if name == "dkim":
        from signer.cli.dkim import dkim_group

        return dkim_group(load)
    if name == "smime":
        from signer.cli.smime import smime_group

        return smime_group(load)
    if name == "document":
        from signer.cli.document import document_group

        return document_group(load, units=units, time_zone=time_zone)
    if name == "auth":
        from signer.cli.auth import auth_group

        return auth_group(load, own_domains=own_domains)
    raise KeyError(name)


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
    return [command(name, load, own_domains=own_domains, units=units, time_zone=time_zone)
            for name in GROUPS]
