"""``congvu probe``'s UNKNOWN and CRITICAL paths, on real files and loopback sockets.

The whole round trip (OK, WARNING, CRITICAL on a missing canary) runs against the real
Postfix and Dovecot in tests/e2e/test_probe.py.
"""

from __future__ import annotations

import os
import pwd
import socket
from pathlib import Path

from click.testing import CliRunner, Result

from congvu.cli import main
from support.sink import Sink


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(tmp_path: Path, probe: str, *, password_mode: int = 0o600) -> Path:
    secret = tmp_path / "probe.password"
    secret.write_text("mat-khau\n")
    secret.chmod(password_mode)
    path = tmp_path / "congvu.toml"
    path.write_text(f"""
[service]
data_dir = "{tmp_path / 'var'}"

[probe]
login = "sotc@tinh.gov.vn"
password_file = "{secret}"
from_address = "sotc@tinh.gov.vn"
to_address = "vanphong@tinh.gov.vn"
submission_tls = "none"
imap_tls = "none"
imap_port = {closed_port()}
timeout = 5
{probe}
""", encoding="utf-8")
    return path


def probe(config: Path | None, *args: str) -> Result:
    extra = ["--config", str(config)] if config else []
    return CliRunner().invoke(main, ["probe", *extra, *args])


def test_without_a_probe_table_it_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(f'[service]\ndata_dir = "{tmp_path}"\n')
    result = probe(tmp_path / "c.toml")
    assert result.exit_code == 3
    assert result.stdout == ("CONGVU UNKNOWN - the [probe] table needs probe.login, "
                             "probe.from_address, probe.to_address\n")


def test_an_invalid_probe_table_is_unknown_with_its_key_path(tmp_path: Path) -> None:
    result = probe(write_config(tmp_path, 'password = "plain"'))
    assert result.exit_code == 3
    assert result.stdout.startswith(f"CONGVU UNKNOWN - {tmp_path / 'congvu.toml'}: "
                                    "probe.password: unknown key")


def test_a_usage_error_is_unknown() -> None:
    result = probe(None, "--warning", "3")
    assert result.exit_code == 3
    assert "No such option '--warning'" in result.output


def test_a_password_file_others_can_read_is_unknown(tmp_path: Path) -> None:
    result = probe(write_config(tmp_path, "", password_mode=0o644))
    assert result.exit_code == 3
    secret = tmp_path / "probe.password"
    assert result.stdout == (f"CONGVU UNKNOWN - probe.password_file {secret}: readable by "
                             f"group, readable by others (mode 0644); run chmod 600 {secret}\n")


def test_a_password_file_another_user_owns_is_unknown(tmp_path: Path) -> None:
    """The password file is checked as every key is: owned by root or the user running
    the probe (the tests run as root, so the file is given to nobody)."""
    config = write_config(tmp_path, "")
    nobody = pwd.getpwnam("nobody")
    os.chown(tmp_path / "probe.password", nobody.pw_uid, nobody.pw_gid)
    result = probe(config)
    assert result.exit_code == 3
    assert "probe.password_file" in result.stdout and "owned by" in result.stdout


def test_a_missing_password_file_is_unknown(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    (tmp_path / "probe.password").unlink()
    result = probe(config)
    assert result.exit_code == 3
    assert result.stdout.startswith(
        f"CONGVU UNKNOWN - probe.password_file {tmp_path / 'probe.password'}: cannot be read")


def test_a_closed_submission_port_is_critical(tmp_path: Path) -> None:
    port = closed_port()
    result = probe(write_config(tmp_path, f"submission_port = {port}"))
    assert result.exit_code == 2
    assert result.stdout.startswith(
        f"CONGVU CRITICAL - submission 127.0.0.1:{port}: cannot send the canary: ")
    assert "Connection refused" in result.output


def test_a_submission_service_without_login_is_critical(tmp_path: Path,
                                                        next_hop: Sink) -> None:
    result = probe(write_config(tmp_path, f"submission_port = {next_hop.port}"))
    assert result.exit_code == 2
    assert result.stdout == (f"CONGVU CRITICAL - submission 127.0.0.1:{next_hop.port}: cannot "
                             "send the canary: SMTP AUTH extension not supported by server.\n")
    assert next_hop.messages.empty()  # nothing was sent without a login
