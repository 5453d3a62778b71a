"""The filter's quarantine in the shared PostgreSQL store: held messages go into the
database (a 250 only once they are there), a database that cannot take one gives 451
and no relay, and a held message is released once, whoever asks."""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from congvu.config import parse_config
from mailbase.pgconn import connect, schema_is_current
from milter.checks import check_locally
from milter.quarantine import ReleaseError, release
from milter.replies import R451_TEMPFAIL
from policies import Action, Decision, PgQuarantine
from policies.pgschema import MIGRATIONS, SCHEMA
from support.postgres import PASSWORD, PostgresCluster, password_file
from support.sink import Sink


@functools.cache  # one boundary per message: the bytes held are compared
def _held_message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "sotc@binhthuan.gov.vn"
    msg["To"] = "vanphong@binhthuan.gov.vn"
    msg["Subject"] = f"Báo cáo số {n}"
    msg["Message-ID"] = f"<held-{n}@binhthuan.gov.vn>"
    msg.set_content("Xem tệp.\n")
    msg.add_attachment(b"PK\x03\x04" + b"\x00" * 100, maintype="application",
                       subtype="octet-stream", filename="bao cao.docm")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _send(running: Any, n: int) -> tuple[int, bytes]:
    client = running.client()
    client.mail("sotc@binhthuan.gov.vn")
    client.rcpt("vanphong@binhthuan.gov.vn")
    return client.data(_held_message(n))  # type: ignore[no-any-return]


def _held_id(reply: bytes) -> str:
    """The quarantine id a 250 for a held message names."""
    found = re.search(rb"\d{8}T\d{6}-[0-9a-f]{12}", reply)
    assert found is not None, reply
    return found.group().decode()


def _assert_not_held(reply: tuple[int, bytes]) -> None:
    code, text = reply
    assert code == R451_TEMPFAIL.code
    assert text.startswith(R451_TEMPFAIL.enhanced.encode())
    assert b"Cannot hold the message now, try again later" in text


def _set_read_only(cluster: PostgresCluster, url: str, is_read_only: bool) -> None:
    """Make the database read-only (or writable again) and end its sessions, as a
    failover to a standby would."""
    name = url.rsplit("/", 1)[1]
    with cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} "
                   + ("SET default_transaction_read_only = on" if is_read_only
                      else "RESET default_transaction_read_only"))
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (name,))


_DECISION = Decision(Action.QUARANTINE)


@pytest.fixture
def running(filter_server: Callable[..., Any], postgres_url: str, tmp_path: Path) -> Any:
    """The filter with its quarantine in PostgreSQL and every other store where it was,
    so only the quarantine meets the database."""
    return filter_server(policies={"quarantine": {
        "url": postgres_url, "password_file": str(password_file(tmp_path))}})


def test_a_held_message_goes_into_the_database(running: Any, next_hop: Sink,
                                                postgres_url: str) -> None:
    code, text = _send(running, 1)
    assert code == 250 and b"held in quarantine" in text
    next_hop.assert_empty()
    qid = _held_id(text)
    config = running.server.config.policies.quarantine
    assert config.url == postgres_url
    with PgQuarantine.from_config(config) as store:
        assert store.read(qid) == _held_message(1)
        assert store.get(qid).recipients == ("vanphong@binhthuan.gov.vn",)


def test_a_database_that_cannot_hold_the_message_gives_451_and_no_relay(
        running: Any, next_hop: Sink, postgres_url: str,
        postgres_cluster: PostgresCluster) -> None:
    assert _send(running, 1)[0] == 250
    _set_read_only(postgres_cluster, postgres_url, True)
    _assert_not_held(_send(running, 2))  # the store's session was ended
    _assert_not_held(_send(running, 3))  # a new one, on a read-only database
    _set_read_only(postgres_cluster, postgres_url, False)
    _assert_not_held(_send(running, 4))
    assert _send(running, 5)[0] == 250  # Postfix's retry goes through
    next_hop.assert_empty()
    with PgQuarantine.from_config(running.server.config.policies.quarantine) as store:
        assert sorted(e.size for e in store.list()) == sorted(
            len(_held_message(n)) for n in (1, 5))  # nothing of what got 451


def test_a_held_message_is_released_once(running: Any, next_hop: Sink) -> None:
    qid = _held_id(_send(running, 1)[1])
    config = running.server.config

    async def both() -> list[str | BaseException]:
        return list(await asyncio.gather(
            release(config, qid, actor="admin1", reason="checked with the sender"),
            release(config, qid, actor="admin2", reason="checked with the sender"),
            return_exceptions=True))

    first, second = asyncio.run(both())
    assert isinstance(first, str) and first.startswith("250")
    assert isinstance(second, ReleaseError)
    assert f"held message {qid} is being released by admin1 on " in str(second)
    assert next_hop.get().content.endswith(_held_message(1))
    next_hop.assert_empty()
    with pytest.raises(ReleaseError, match="released or deleted already"):
        asyncio.run(release(config, qid, actor="admin2", reason="checked"))


def test_serve_creates_the_schema_and_config_check_reads_the_password_file(
        postgres_url: str, tmp_path: Path) -> None:
    secret = password_file(tmp_path)
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")},
                           "store": {"url": postgres_url, "password_file": str(secret)},
                           "audit": {"path": "audit.sqlite3"}})
    assert check_locally(config, create=True) == []  # as serve's parent, before forking
    conn = connect(postgres_url, PASSWORD, schema=SCHEMA)
    try:
        assert schema_is_current(conn, SCHEMA, MIGRATIONS)
    finally:
        conn.close()
    secret.chmod(0o644)  # a configuration error: said, never covered by a copy
    problems = check_locally(config)  # every store on [store] url says it
    assert any(p.startswith(f"signer.dkim: DKIM rotation state {postgres_url}: "
                            f"store password file {secret}: ") for p in problems), problems
    assert any(p.startswith(f"policies.quarantine.url: quarantine store {postgres_url}: "
                            f"store password file {secret}: ") for p in problems), problems


def _shared_config_file(tmp_path: Path, name: str, url: str) -> Path:
    """One server's congvu.toml: the quarantine in the shared database, every other
    store its own (the test reads what each server audited)."""
    data = tmp_path / name
    data.mkdir()
    path = data / "congvu.toml"
    path.write_text(f'[service]\ndata_dir = "{data}"\n[policies.quarantine]\n'
                    f'url = "{url}"\npassword_file = "{password_file(tmp_path)}"\n',
                    encoding="utf-8")
    return path


def test_the_commands_of_another_server_list_and_delete_what_one_held(
        tmp_path: Path, postgres_url: str) -> None:
    from click.testing import CliRunner

    from audit import AuditLog
    from congvu.cli import main
    from congvu.config import load_config

    mail1 = load_config(_shared_config_file(tmp_path, "mail1", postgres_url))
    mail2 = _shared_config_file(tmp_path, "mail2", postgres_url)
    with PgQuarantine.from_config(mail1.policies.quarantine) as store:
        qid = store.put(_held_message(1), envelope_from="sotc@binhthuan.gov.vn",
                        recipients=["vanphong@binhthuan.gov.vn"], direction="outbound",
                        unit_id="sotc", decision=_DECISION)
    runner = CliRunner()
    listed = runner.invoke(main, ["quarantine", "list", "--format", "json",
                                  "--config", str(mail2)])
    assert listed.exit_code == 0, listed.output
    assert f'"id": "{qid}"' in listed.stdout and "Báo cáo số 1" in listed.stdout
    deleted = runner.invoke(main, ["quarantine", "delete", qid, "--reason", "spam",
                                   "--config", str(mail2)])
    assert deleted.exit_code == 0, deleted.output
    with PgQuarantine.from_config(mail1.policies.quarantine) as store:
        assert store.list() == []
    config2 = load_config(mail2)
    with AuditLog.open_readonly(config2.audit.path) as log:
        [event] = [e for e in log.admin_events() if e["target"] == qid]
    assert (event["kind"], event["details"]["reason"]) == ("quarantine-delete", "spam")


def test_two_servers_expiring_at_once_audit_each_message_once(
        tmp_path: Path, postgres_url: str) -> None:
    import threading
    from datetime import UTC, datetime, timedelta

    from audit import AuditLog
    from congvu.config import load_config
    from milter.housekeeping import expire_quarantine

    servers = [load_config(_shared_config_file(tmp_path, name, postgres_url))
               for name in ("mail1", "mail2")]
    old = datetime.now(UTC) - timedelta(days=31)
    with PgQuarantine.from_config(servers[0].policies.quarantine) as store:
        held = {str(store.put(_held_message(n), envelope_from="sotc@binhthuan.gov.vn",
                              recipients=["vanphong@binhthuan.gov.vn"],
                              direction="outbound", unit_id="sotc", decision=_DECISION,
                              now=old)) for n in range(20)}
    start = threading.Barrier(2)
    expired: list[list[str]] = []

    def expire(config: Any) -> None:
        start.wait()
        expired.append(expire_quarantine(config))

    threads = [threading.Thread(target=expire, args=(c,)) for c in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(expired[0] + expired[1]) == sorted(held)  # each once, by one of them
    audited = []
    for config in servers:
        if not config.audit.path.exists():  # this one found every message claimed
            continue
        with AuditLog.open_readonly(config.audit.path) as log:
            audited += [e["target"] for e in log.admin_events(kind="quarantine-delete")]
    assert sorted(audited) == sorted(held)


def test_a_database_that_is_down_gives_451_for_what_must_be_held_only(
        filter_server: Callable[..., Any], next_hop: Sink, tmp_path: Path) -> None:
    from support.postfix import free_port

    down = f"postgresql://congvu@127.0.0.1:{free_port()}/congvu"
    running = filter_server(policies={"quarantine": {
        "url": down, "password_file": str(password_file(tmp_path))}})
    _assert_not_held(_send(running, 1))
    next_hop.assert_empty()
    msg = EmailMessage()
    msg["From"] = "sotc@binhthuan.gov.vn"
    msg["To"] = "vanphong@binhthuan.gov.vn"
    msg["Subject"] = "Giấy mời"
    msg.set_content("Kính mời.\n")
    clean = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
    client = running.client()
    client.sendmail("sotc@binhthuan.gov.vn", ["vanphong@binhthuan.gov.vn"], clean)
    assert next_hop.get().content == clean  # the filter itself never needed the database
