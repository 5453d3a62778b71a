"""``congvu web`` and ``congvu user add|grant|revoke|disable|enable|list``.

Exit codes (ARCHITECTURE.md, "Command line"): 0 done, 1 the store refused (unknown user, name taken,
audit store unwritable), 2 usage or configuration errors.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from audit import AuditError
from milter.config import CongvuConfig
from web.errors import WebError
from web.release import Releaser
from web.settings import WebSettings

ConfigLoader = Callable[[Path | None], CongvuConfig]
ReleaseFactory = Callable[[CongvuConfig], Releaser]

CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
    default=None, help="The congvu.toml file (default: the embedded defaults).",
)


class WebCliError(click.ClickException):
    """The store refused: exit 1."""

    exit_code = 1


class WebUsageError(click.ClickException):
    """Bad arguments: exit 2."""

    exit_code = 2


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6).

    :raises click.BadParameter: not HOST:PORT with a port 0-65535.
    """
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"{text!r} is not HOST:PORT", param_hint="--listen")
    return host, int(port)


def commands(load: ConfigLoader, *, release: ReleaseFactory | None = None
             ) -> list[click.Command]:
    """The commands this package adds to ``congvu``.

    :param load: the composed configuration for ``--config`` (milter/ supplies it).
    :param release: builds the quarantine releaser from the configuration (milter/
        supplies it); without it the console cannot release held messages.
    """

    def settings(config_path: Path | None, **kw: bool) -> tuple[CongvuConfig, WebSettings]:
        config = load(config_path)
        return config, WebSettings.from_config(config, **kw)

    @click.command("web")
    @CONFIG_OPTION
    @click.option("--listen", default="127.0.0.1:8080", show_default=True,
                  help="HOST:PORT to serve on (keep 127.0.0.1 behind nginx; web/README.md).")
    @click.option("--secure-cookies", is_flag=True,
                  help="Mark cookies Secure (set this when nginx terminates TLS).")
    def web_cmd(config_path: Path | None, listen: str, secure_cookies: bool) -> None:
        """Serve the console: public directory, auditors' log, administrators' quarantine."""
        import uvicorn

        from web.app import create_app

        host, port = parse_listen(listen)
        config, conf = settings(config_path, is_secure_cookie=secure_cookies)
        try:
            app = create_app(conf, release=release(config) if release else None)
        except WebError as exc:
            raise WebCliError(str(exc)) from exc
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True,
                    forwarded_allow_ips="127.0.0.1", server_header=False)

    @click.group("user")
    def user_group() -> None:
        """Console users: add, grant units, disable."""

    def _store(config_path: Path | None) -> tuple[WebSettings, object]:
        from web.users import UserStore

        _, conf = settings(config_path)
        try:
            return conf, UserStore(conf.users_path)
        except WebError as exc:
            raise WebCliError(str(exc)) from exc

    def _audit(conf: WebSettings, target: str, action: str, unit: str | None = None) -> None:
        from web.actions import user_event

        try:
            user_event(conf, actor="cli", target=target, action=action, unit_id=unit)
        except AuditError as exc:
            raise WebCliError(f"done, but not audited: {exc}") from exc

    @user_group.command("add")
    @CONFIG_OPTION
    @click.argument("name")
    @click.option("--admin", "is_admin", is_flag=True, help="An administrator (sees all).")
    @click.option("--password-stdin", is_flag=True,
                  help="Read the password from the first line of standard input.")
    def user_add(config_path: Path | None, name: str, is_admin: bool,
                 password_stdin: bool) -> None:
        """Create user NAME (asks for the password unless --password-stdin)."""
        from web.users import UserStore

        conf, store = _store(config_path)
        assert isinstance(store, UserStore)
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        with store:
            try:
                user = store.add(name, password, is_admin=is_admin)
            except WebError as exc:
                raise WebCliError(str(exc)) from exc
        _audit(conf, user.name, "add-admin" if is_admin else "add")
        click.echo(f"user {user.name} added ({'administrator' if is_admin else 'auditor'})")

    def _change(config_path: Path | None, name: str, action: str, units: tuple[str, ...]
                ) -> None:
        from web.users import UserStore

        conf, store = _store(config_path)
        assert isinstance(store, UserStore)
        with store:
            try:
                if action == "grant":
                    from web.actions import check_unit
                    for unit in units:
                        check_unit(conf, unit)
                if action in ("grant", "revoke"):
                    for unit in units:
                        (store.grant if action == "grant" else store.revoke)(name, unit)
                else:
                    store.set_active(name, action == "enable")
                user = store.get(name)
            except WebError as exc:
                raise WebCliError(str(exc)) from exc
        for target_unit in list[str | None](units) or [None]:
            _audit(conf, name, action, target_unit)
        click.echo(f"{user.name}: {'active' if user.is_active else 'disabled'}; units: "
                   f"{', '.join(user.units) or '(none)'}")

    @user_group.command("grant")
    @CONFIG_OPTION
    @click.argument("name")
    @click.argument("units", nargs=-1, required=True)
    def user_grant(config_path: Path | None, name: str, units: tuple[str, ...]) -> None:
        """Let NAME read the log of UNITS and the units below them."""
        _change(config_path, name, "grant", units)

    @user_group.command("revoke")
    @CONFIG_OPTION
    @click.argument("name")
    @click.argument("units", nargs=-1, required=True)
    def user_revoke(config_path: Path | None, name: str, units: tuple[str, ...]) -> None:
        """Take grants of UNITS back from NAME."""
        _change(config_path, name, "revoke", units)

    @user_group.command("disable")
    @CONFIG_OPTION
    @click.argument("name")
    def user_disable(config_path: Path | None, name: str) -> None:
        """Stop NAME from logging in (their open sessions end at the next request)."""
        _change(config_path, name, "disable", ())

    @user_group.command("enable")
    @CONFIG_OPTION
    @click.argument("name")
    def user_enable(config_path: Path | None, name: str) -> None:
        """Let a disabled user log in again."""
        _change(config_path, name, "enable", ())

    @user_group.command("list")
    @CONFIG_OPTION
    def user_list(config_path: Path | None) -> None:
        """Every user, their role, state and granted units."""
        from web.users import UserStore

        _, store = _store(config_path)
        assert isinstance(store, UserStore)
        with store:
            for user in store.users():
                click.echo(f"{user.name}\t{'admin' if user.is_admin else 'auditor'}\t"
                           f"{'active' if user.is_active else 'disabled'}\t"
                           f"{','.join(user.units)}")

    return [web_cmd, user_group]
