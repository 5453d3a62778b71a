"""``congvu web`` and ``congvu user add|grant|revoke|disable|enable|password|list``.

Exit codes (ARCHITECTURE.md, "Command line"): 0 done, 1 the store refused (unknown user, name taken,
audit store unwritable), 2 usage or configuration errors.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from audit import AuditError
from mailbase import (
    N_,
    NP_,
    CommandFailed,
    Reason,
    Translation,
    UsageProblem,
    command_line_actor,
    config_option,
    lang_option,
    wired,
)
from web import refusals
from web.errors import UserError, WebError
from web.release import Releaser
from web.settings import WebSettings

if TYPE_CHECKING:
    from web.users import User, UserStore

SettingsLoader = Callable[[Path | None], WebSettings]
_C = TypeVar("_C", bound=Callable[..., object])
ReleaseFactory = Callable[[Path | None], Releaser]


@dataclasses.dataclass(frozen=True, slots=True)
class _Wiring:
    """What :func:`commands` was given: the console's settings for ``--config``, and
    how to release held messages (None: the console cannot)."""

    load: SettingsLoader
    release: ReleaseFactory | None = None


_wiring = click.make_pass_decorator(_Wiring)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6).

    :raises click.BadParameter: not HOST:PORT with a port 0-65535.
    """
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{text!r} is not HOST:PORT", param_hint="--listen")
    return host, int(port)


@click.command("web")
@config_option
@click.option("--listen", default="127.0.0.1:8080", show_default=True,
              help="HOST:PORT to serve on (keep 127.0.0.1 behind nginx; web/README.md).")
@click.option("--secure-cookies", is_flag=True,
              help="Mark cookies Secure (set this when nginx terminates TLS).")
@_wiring
def web_command(wiring: _Wiring, config_path: Path | None, listen: str,
                secure_cookies: bool) -> None:
    """Serve the console: public directory, auditors' log, administrators' quarantine."""
    import uvicorn

    from web.app import create_app

    host, port = parse_listen(listen)
    settings = dataclasses.replace(wiring.load(config_path), is_secure_cookie=secure_cookies)
    release = wiring.release(config_path) if wiring.release else None
    try:
        app = create_app(settings, release=release)
    except WebError as exc:
        raise CommandFailed(str(exc)) from exc
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True,
                forwarded_allow_ips="127.0.0.1", server_header=False)


@click.group("user")
def user_group() -> None:
    """Console users: add, grant units, set passwords, disable."""


def _store(settings: WebSettings, tr: Translation) -> UserStore:
    from web.users import UserStore  # the store only for the commands that need it

    try:
        return UserStore(settings.users_store, hashing=settings.password_hashing)
    except UserError as exc:
        raise _refused(exc, tr) from exc


def _said(problem: Reason, tr: Translation) -> str:
    """A refusal (web/refusals.py, a directory's nested in it) in ``tr``'s language,
    its values as they are."""
    from web.reasons import BOOK  # imported with the catalogue's reader (web/i18n.py)

    return BOOK.render(problem.as_json(), tr.lang) or problem.text


def _refused(exc: UserError, tr: Translation) -> CommandFailed:
    return CommandFailed(_said(exc.problem, tr))


#: what the ``user`` commands say, in the language of ``--lang`` (a refusal is a code of
#: web/refusals.py, said by :func:`_said`)
_SAID = {
    "added": N_("user {name} added ({role})"),
    "address_of": N_("{address} is the address of unit {unit}"),
    "state": N_("{name}: {state}; units: {units}"),
    "with_content": N_("; content: {units}"),
    "none": N_("(none)"),
    "password_changed": N_("{name}: password changed; {ended} session(s) ended"),
    "not_audited": N_("done, but not audited: {problem}"),
    "password": N_("Password"),
    "new_password": N_("New password"),
    "again": N_("The same password again"),
}


def _tr(lang: str) -> Translation:
    from web.i18n import CATALOGUE

    return CATALOGUE.translation(lang)


def _audit(settings: WebSettings, target: str, action: str, unit: str | None = None,
           *, tr: Translation) -> None:
    from web.actions import user_event

    try:
        user_event(settings, actor=command_line_actor(), target=target, action=action,
                   unit_id=unit)
    except AuditError as exc:
        raise CommandFailed(tr.gettext(_SAID["not_audited"]).format(problem=exc)) from exc


def _read_password(from_stdin: bool, prompt: str, tr: Translation) -> str:
    """A password from the first line of standard input, or asked twice on the
    terminal; never from the command line, where ps and the shell history see it.

    :raises UsageProblem: ``from_stdin`` and standard input is empty.
    """
    if not from_stdin:
        return str(click.prompt(tr.gettext(prompt), hide_input=True,
                                confirmation_prompt=tr.gettext(_SAID["again"])))
    line = sys.stdin.readline()
    if not line:
        raise UsageProblem(_said(refusals.NO_PASSWORD_ON_STDIN(), tr))
    return line.rstrip("\r\n")


def _stdin_option(command: _C) -> _C:
    return click.option(
        "--stdin", "--password-stdin", "from_stdin", is_flag=True,
        help="Read the password from the first line of standard input (for scripts).",
    )(command)


@user_group.command("add")
@config_option
@click.argument("name")
@click.option("--admin", "is_admin", is_flag=True, help="An administrator (sees all).")
@_stdin_option
@lang_option
@_wiring
def user_add(wiring: _Wiring, config_path: Path | None, name: str, is_admin: bool,
             from_stdin: bool, lang: str) -> None:
    """Create user NAME (asks for the password unless --stdin)."""
    settings, tr = wiring.load(config_path), _tr(lang)
    store = _store(settings, tr)
    password = _read_password(from_stdin, _SAID["password"], tr)
    with store:
        try:
            user = store.add(name, password, is_admin=is_admin)
        except UserError as exc:
            raise _refused(exc, tr) from exc
    _audit(settings, user.name, "add-admin" if is_admin else "add", tr=tr)
    click.echo(tr.gettext(_SAID["added"]).format(
        name=user.name, role=tr.word(_USER_WORDS["admin" if is_admin else "auditor"])))


def _apply(settings: WebSettings, store: UserStore, name: str, action: str,
           units: tuple[str, ...]) -> User:
    """Grant or revoke ``units`` (``-content``: their messages' content), or enable or
    disable the user; the user as it is now."""
    if action in ("grant", "grant-content"):
        for unit in units:
            store.grant(name, unit, content=action == "grant-content")
    elif action in ("revoke", "revoke-content"):
        for unit in units:
            store.revoke(name, unit, content_only=action == "revoke-content")
    else:
        store.set_active(name, action == "enable")
    return store.get(name)


def _granted(settings: WebSettings, keys: tuple[str, ...], tr: Translation
             ) -> tuple[str, ...]:
    """The unit ids ``keys`` (ids or addresses) name, each said when named by address.

    :raises CommandFailed: a key names no unit (nothing is granted then).
    """
    from web.grants import unit_to_grant

    units = []
    for key in keys:
        try:
            granted = unit_to_grant(settings, key)
        except UserError as exc:
            raise _refused(exc, tr) from exc
        if granted.address is not None:
            click.echo(tr.gettext(_SAID["address_of"]).format(address=granted.address,
                                                              unit=granted.unit_id))
        units.append(granted.unit_id)
    return tuple(dict.fromkeys(units))


def _change(wiring: _Wiring, config_path: Path | None, name: str, action: str,
            units: tuple[str, ...], lang: str) -> None:
    settings, tr = wiring.load(config_path), _tr(lang)
    if action in ("grant", "grant-content"):
        units = _granted(settings, units, tr)
    with _store(settings, tr) as store:
        try:
            user = _apply(settings, store, name, action, units)
        except UserError as exc:
            raise _refused(exc, tr) from exc
    for target_unit in list[str | None](units) or [None]:
        _audit(settings, name, action, target_unit, tr=tr)
    content = tr.gettext(_SAID["with_content"]).format(units=", ".join(user.content_units)
                                                       ) if user.content_units else ""
    click.echo(tr.gettext(_SAID["state"]).format(
        name=user.name, state=tr.word(_USER_WORDS["active" if user.is_active else "disabled"]),
        units=", ".join(user.units) or tr.gettext(_SAID["none"])) + content)


@user_group.command("grant")
@config_option
@click.argument("name")
@click.argument("units", nargs=-1, required=True)
@click.option("--content", "is_content", is_flag=True,
              help="Also let NAME read, download and search the archived messages of "
              "UNITS (and of the units below them) in the console; each such act is a "
              "chained event.")
@lang_option
@_wiring
def user_grant(wiring: _Wiring, config_path: Path | None, name: str,
               units: tuple[str, ...], is_content: bool, lang: str) -> None:
    """Let NAME read the log of UNITS and the units below them.

    Each of UNITS is a unit's id or its official address (an alias too), which the
    directory resolves to the unit; anything else is refused, nothing granted.
    """
    _change(wiring, config_path, name, "grant-content" if is_content else "grant", units,
            lang)


@user_group.command("revoke")
@config_option
@click.argument("name")
@click.argument("units", nargs=-1, required=True)
@click.option("--content", "is_content", is_flag=True,
              help="Take back only the grant of the archived messages' content.")
@lang_option
@_wiring
def user_revoke(wiring: _Wiring, config_path: Path | None, name: str,
                units: tuple[str, ...], is_content: bool, lang: str) -> None:
    """Take grants of UNITS back from NAME (with the grant of their content)."""
    _change(wiring, config_path, name, "revoke-content" if is_content else "revoke", units,
            lang)


@user_group.command("disable")
@config_option
@click.argument("name")
@lang_option
@_wiring
def user_disable(wiring: _Wiring, config_path: Path | None, name: str, lang: str) -> None:
    """Stop NAME from logging in and end every console session of NAME's."""
    _change(wiring, config_path, name, "disable", (), lang)


@user_group.command("enable")
@config_option
@click.argument("name")
@lang_option
@_wiring
def user_enable(wiring: _Wiring, config_path: Path | None, name: str, lang: str) -> None:
    """Let a disabled user log in again."""
    _change(wiring, config_path, name, "enable", (), lang)


@user_group.command("password")
@config_option
@click.argument("name")
@_stdin_option
@lang_option
@_wiring
def user_password(wiring: _Wiring, config_path: Path | None, name: str,
                  from_stdin: bool, lang: str) -> None:
    """Set NAME's password (asks for it twice unless --stdin) and end every console
    session of NAME's, on every server sharing the users store."""
    settings, tr = wiring.load(config_path), _tr(lang)
    with _store(settings, tr) as store:
        try:
            store.get(name)
            ended = store.set_password(
                name, _read_password(from_stdin, _SAID["new_password"], tr))
        except UserError as exc:
            raise _refused(exc, tr) from exc
    _audit(settings, name, "password", tr=tr)
    click.echo(tr.gettext(_SAID["password_changed"]).format(name=name, ended=ended))


#: a user's role and state in ``user list``'s table (its JSON keeps the booleans)
_USER_WORDS = {
    "admin": NP_("user", "admin"), "auditor": NP_("user", "auditor"),
    "active": NP_("user", "active"), "disabled": NP_("user", "disabled"),
}
#: what else ``user list`` says
_LIST_SAID = {
    "content": N_("content: {units}"), "unknown": N_("no such unit: {units}"),
    "stale": N_("warning: {user}'s grant of '{unit}' matches no unit of the directory; take"
                " it back with `congvu user revoke {user} {unit}`"),
}


@user_group.command("list")
@config_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table for people, or one JSON object per line.")
@lang_option
@_wiring
def user_list(wiring: _Wiring, config_path: Path | None, fmt: str, lang: str) -> None:
    """Every user, their role, state and granted units, tab-separated; then, when there
    are any, the units whose archived messages the user may read (`content: ...`) and
    the grants that match no unit of the directory (they show nothing), each also
    warned of on standard error. The table is in Vietnamese unless --lang en; JSON
    (`name`, `is_admin`, `is_active`, `units`, `content_units`, `unknown_units`) is the
    same in both."""
    from web.grants import stale_grants

    settings, tr = wiring.load(config_path), _tr(lang)
    with _store(settings, tr) as store:
        users = store.users()
    try:
        stale = stale_grants(settings, {unit for user in users for unit in user.units})
    except UserError as exc:
        raise _refused(exc, tr) from exc
    for user in users:
        unknown = [unit for unit in user.units if unit in stale]
        if fmt == "json":
            click.echo(json.dumps({
                "name": user.name, "is_admin": user.is_admin, "is_active": user.is_active,
                "units": list(user.units), "content_units": list(user.content_units),
                "unknown_units": unknown}, ensure_ascii=False))
            continue
        cells = [user.name, tr.word(_USER_WORDS["admin" if user.is_admin else "auditor"]),
                 tr.word(_USER_WORDS["active" if user.is_active else "disabled"]),
                 ",".join(user.units)]
        if user.content_units:
            cells.append(tr.gettext(_LIST_SAID["content"]).format(
                units=",".join(user.content_units)))
        if unknown:
            cells.append(tr.gettext(_LIST_SAID["unknown"]).format(units=",".join(unknown)))
        click.echo("\t".join(cells))
    for user in users:
        for unit in user.units:
            if unit in stale:
                click.echo(tr.gettext(_LIST_SAID["stale"]).format(user=user.name, unit=unit),
                           err=True)


def commands(load: SettingsLoader, *, release: ReleaseFactory | None = None
             ) -> list[click.Command]:
    """The commands this package adds to ``congvu``.

    :param load: the console's settings for ``--config`` (the root builds them from
        the composed configuration).
    :param release: the quarantine releaser for ``--config`` (the root supplies it);
        without it the console cannot release held messages.
    """
    wiring = _Wiring(load, release)
    return [wired(web_command, wiring), wired(user_group, wiring)]
