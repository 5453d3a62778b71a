"""The directory in PostgreSQL (the shared store of several mail servers): the
configuration, the schema on both backends, two servers importing at once, every way of
failing, and the copy of a SQLite store into an empty PostgreSQL one."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from pathlib import Path

import pytest

from congvu.config import parse_config
from directory import Directory, DirectoryConfig, StoreError
from directory.pgschema import MIGRATIONS as PG_MIGRATIONS
from directory.pgschema import TABLES, missing_steps
from directory.pgstore import copy_directory_to_postgresql
from directory.schema import MIGRATIONS
from support.postfix import free_port
from support.postgres import PASSWORD, PostgresCluster, password_file

D = "laocai.gov.vn"
UNITS = ("id,name,parent,address,aliases,senders\n"
         f"tinh,UBND tỉnh,,ubnd@{D},vanthu@{D},admin\n"
         f"stc,Sở Tài chính,tinh,stc@{D},,nva\n"
         f"snv,Sở Nội vụ,tinh,snv@{D},,\n")
ROSTER = ("unit,address,full_name,position\n"
          f"stc,nguyen.van.a@{D},Nguyễn Văn A,Giám đốc\n"
          f"snv,le.van.c@{D},Lê Văn C,\n")


def _database(config: DirectoryConfig) -> str:
    assert config.url is not None
    return config.url.rsplit("/", 1)[1]


def _end_sessions(cluster: PostgresCluster, config: DirectoryConfig) -> None:
    with cluster.admin() as db:
        db.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                   "WHERE datname = %s AND pid <> pg_backend_pid()", (_database(config),))


# -- the configuration ------------------------------------------------------------------------

def test_path_and_url_in_one_table_is_an_error() -> None:
    with pytest.raises(ValueError, match="path and url name two directory stores"):
        DirectoryConfig(path=Path("d.sqlite3"), url="postgresql://congvu@db/congvu")
    with pytest.raises(ValueError, match="must not contain a password"):
        DirectoryConfig(url="postgresql://congvu:secret@db/congvu")


def test_the_store_table_puts_the_directory_in_postgresql_unless_it_names_its_own(
        tmp_path: Path) -> None:
    base = {"service": {"data_dir": str(tmp_path)},
            "store": {"url": "postgresql://congvu@db/shared", "password_file": "pw"}}
    shared = parse_config(base).directory
    assert (shared.url, shared.password_file) == ("postgresql://congvu@db/shared",
                                                  tmp_path / "pw")
    own = parse_config({**base, "directory": {"url": "postgresql://congvu@db/other"}})
    assert own.directory.url == "postgresql://congvu@db/other"
    local = parse_config({**base, "directory": {"path": "d.sqlite3"}}).directory
    assert (local.url, local.path) == (None, tmp_path / "d.sqlite3")
    assert parse_config({"service": {"data_dir": str(tmp_path)}}).directory.url is None


# -- the schema on both backends --------------------------------------------------------------

def test_every_migration_is_written_for_both_backends(pg_directory: DirectoryConfig,
                                                      tmp_path: Path) -> None:
    assert missing_steps() == []
    assert len(PG_MIGRATIONS) == len(MIGRATIONS)
    Directory.open(pg_directory).close()
    with Directory.open(pg_directory) as store:  # a second open applies nothing again
        names = [row[0] for row in store.db.execute(
            "SELECT name FROM _migrations ORDER BY name").fetchall()]
        assert names == [name for name, _ in PG_MIGRATIONS]
        pg_columns = {(row[0], row[1]) for row in store.db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'directory' AND table_name <> '_migrations'").fetchall()}
    with Directory.open(tmp_path / "d.sqlite3") as sqlite:
        sqlite_columns = {(table, row[1]) for table, _ in TABLES
                          for row in sqlite.db.execute(f"PRAGMA table_info({table})")}
    assert pg_columns == sqlite_columns
    assert sqlite_columns == {(table, column) for table, columns in TABLES
                              for column in columns}


# -- several servers ---------------------------------------------------------------------------

def test_two_servers_importing_at_once_keep_one_history(pg_directory: DirectoryConfig) -> None:
    with Directory.open(pg_directory) as first:
        first.import_csv(UNITS, actor="setup")
    servers = [Directory.open(pg_directory), Directory.open(pg_directory)]
    rounds = 8
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def server(number: int) -> None:
        try:
            for n in range(rounds):
                start.wait()
                servers[number].import_csv(
                    UNITS.replace("Sở Nội vụ", f"Sở Nội vụ {number}-{n}"), actor=f"s{number}")
        except BaseException as exc:
            failures.append(exc)
            start.abort()  # the other server is not left waiting for this one

    threads = [threading.Thread(target=server, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    history = servers[0].history("snv")
    for server_store in servers:
        server_store.close()
    # each change starts from the name the one before it left: no import compared the
    # file with a state another had already changed
    names = [change.changes["name"] for change in history[1:]]
    assert len(names) == 2 * rounds
    for before, after in itertools.pairwise(names):
        assert after[0] == before[1]
    assert history[0].changes["name"] == (None, "Sở Nội vụ")
    assert names[0][0] == "Sở Nội vụ"


def test_the_index_sees_another_servers_import(pg_directory: DirectoryConfig) -> None:
    from directory import DirectoryIndex

    with Directory.open(pg_directory) as other:
        other.import_csv(UNITS)
        index = DirectoryIndex(Directory.open(pg_directory))
        assert index.unit_id(f"snv@{D}") == "snv"
        assert index.refresh() is False  # nothing changed: no rebuild
        other.import_csv(UNITS.replace(f"snv@{D}", f"noivu@{D}"))
        assert index.refresh() is True
        assert (index.unit_id(f"noivu@{D}"), index.unit_id(f"snv@{D}")) == ("snv", None)
        index.close()


def test_the_filter_answers_from_its_last_directory_while_the_store_cannot_be_read(
        pg_directory: DirectoryConfig, postgres_cluster: PostgresCluster,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from directory import DirectoryIndex
    from milter.stages import units

    monkeypatch.setattr(units, "_REFRESH_INTERVAL", -1.0)  # every lookup asks the store
    with Directory.open(pg_directory) as other:
        other.import_csv(UNITS)
    lookup = units.UnitLookup(DirectoryIndex(Directory.open(pg_directory)))
    assert lookup.unit_of(f"snv@{D}") == "snv"
    _end_sessions(postgres_cluster, pg_directory)
    with caplog.at_level(logging.WARNING, "congvu.milter"):
        assert lookup.unit_of(f"snv@{D}") == "snv"  # the refresh failed: no 451 for it
    assert "directory-refresh-failed revision=" in caplog.text
    with Directory.open(pg_directory) as other:
        other.import_csv(UNITS.replace(f"snv@{D}", f"noivu@{D}"))
    assert lookup.unit_of(f"noivu@{D}") == "snv"  # the next refresh connects again
    lookup.index.close()


def test_commands_the_checks_and_the_filters_index_use_the_configured_store(
        pg_directory: DirectoryConfig, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from congvu.cli import main
    from directory import DirectoryIndex
    from milter.checks import check_locally

    config_file = tmp_path / "congvu.toml"
    config_file.write_text(f'[service]\ndata_dir = "{tmp_path / "var"}"\n'
                           f'[directory]\nurl = "{pg_directory.url}"\n'
                           f'password_file = "{pg_directory.password_file}"\n')
    units = tmp_path / "units.csv"
    units.write_text(UNITS, encoding="utf-8")
    config = parse_config({"service": {"data_dir": str(tmp_path / "var")},
                           "directory": {"url": pg_directory.url,
                                         "password_file": str(pg_directory.password_file)}})
    assert check_locally(config) == []  # a check reads the password file, not the database
    done = CliRunner().invoke(main, ["directory", "import", str(units), "--config",
                                     str(config_file)])
    assert done.exit_code == 0, done.output
    shown = CliRunner().invoke(main, ["directory", "show", "stc", "--config",
                                      str(config_file)])
    assert "Sở Tài chính" in shown.output
    assert not (tmp_path / "var" / "directory.sqlite3").exists()
    index = DirectoryIndex.open(config.directory)
    try:
        assert index.unit_id(f"stc@{D}") == "stc"
    finally:
        index.close()


# -- every way of failing ----------------------------------------------------------------------

def test_a_wrong_password_is_a_store_error_that_says_so(pg_directory: DirectoryConfig,
                                                       tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the password\n")
    wrong.chmod(0o600)
    with pytest.raises(StoreError, match=r"refused the login.*password authentication"):
        Directory.open(pg_directory.model_copy(update={"password_file": wrong}))


def test_a_password_file_others_can_read_is_refused(pg_directory: DirectoryConfig) -> None:
    assert pg_directory.password_file is not None
    pg_directory.password_file.chmod(0o644)
    with pytest.raises(StoreError, match=r"store password file .*chmod 600"):
        Directory.open(pg_directory)


def test_libpq_passfile_works_without_password_file(
        pg_directory: DirectoryConfig, postgres_cluster: PostgresCluster, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres_cluster.port}:*:congvu:{PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with Directory.open(pg_directory.model_copy(update={"password_file": None})) as store:
        assert store.import_csv(UNITS).created == ("tinh", "stc", "snv")


def test_no_database_there_is_a_store_error_that_says_so(tmp_path: Path) -> None:
    config = DirectoryConfig(url=f"postgresql://congvu@127.0.0.1:{free_port()}/congvu",
                             password_file=password_file(tmp_path))
    # (a reader waits the pool's 10 s for a connection first, then says the same)
    with pytest.raises(StoreError, match=r"cannot be reached.*refused") as caught:
        Directory.open(config)
    assert caught.value.path == config.url


def test_a_url_given_as_a_path_is_refused_not_made_a_file(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=r"opened with its \[directory\] table"):
        Directory.open("postgresql://congvu@db/congvu")
    assert list(tmp_path.iterdir()) == []


def test_an_empty_database_is_no_store_to_read(pg_directory: DirectoryConfig) -> None:
    with pytest.raises(StoreError, match="no directory store of this version"):
        Directory.open(pg_directory, read_only=True)


def test_a_read_only_database_refuses_imports_and_keeps_answering(
        pg_directory: DirectoryConfig, postgres_cluster: PostgresCluster) -> None:
    name = _database(pg_directory)
    with Directory.open(pg_directory) as store:
        store.import_csv(UNITS)
        with postgres_cluster.admin() as db:
            db.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
        try:
            _end_sessions(postgres_cluster, pg_directory)
            with pytest.raises(StoreError, match="connection to the database was lost"):
                store.units()  # the session it had is gone
            assert [u.id for u in store.units()] == ["tinh", "stc", "snv"]  # a new one
            with pytest.raises(StoreError, match="writing the import failed: the "
                               "database is read-only"):
                store.import_csv(UNITS.replace("Sở Nội vụ", "Sở Nội vụ mới"))
            with pytest.raises(StoreError, match="writing the roster failed: the "
                               "database is read-only"):
                store.import_mailboxes(ROSTER)
            with Directory.open(pg_directory, read_only=True) as reader:
                assert reader.get(f"snv@{D}").name == "Sở Nội vụ"
        finally:
            with postgres_cluster.admin() as db:
                db.execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")
            _end_sessions(postgres_cluster, pg_directory)
        with pytest.raises(StoreError):
            store.units()
        assert store.import_csv(UNITS.replace("Sở Nội vụ", "Sở Nội vụ mới")).updated == (
            "snv",)
        assert [c.action for c in store.history("snv")] == ["created", "updated"]


def test_a_new_store_on_a_read_only_database_cannot_be_made(
        pg_directory: DirectoryConfig, postgres_cluster: PostgresCluster) -> None:
    name = _database(pg_directory)
    with postgres_cluster.admin() as db:
        db.execute(f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    try:
        with pytest.raises(StoreError, match="cannot open for writing the directory store: "
                           "the database is read-only"):
            Directory.open(pg_directory)
    finally:
        with postgres_cluster.admin() as db:
            db.execute(f"ALTER DATABASE {name} RESET default_transaction_read_only")


# -- the copy for `congvu store migrate` ------------------------------------------------------

def test_a_sqlite_store_copies_into_an_empty_postgresql_one(
        pg_directory: DirectoryConfig, tmp_path: Path) -> None:
    source = tmp_path / "directory.sqlite3"
    with Directory.open(source) as sqlite:
        sqlite.import_csv(UNITS, actor="a")
        sqlite.import_csv(UNITS.replace("Sở Nội vụ", "Sở Nội vụ tỉnh"), actor="b")
        sqlite.import_mailboxes(ROSTER, actor="c")
        # text PostgreSQL cannot hold as it is, kept exactly
        sqlite.db.execute("UPDATE units SET website = ? WHERE id = 'tinh'", ["a\x00b"])
        sqlite.db.conn.commit()
        expected = (sqlite.units(), sqlite.history(), sqlite.mailboxes(),
                    sqlite.mailbox_history(), sqlite.revision())
    counts = copy_directory_to_postgresql(source, pg_directory)
    assert counts == {"units": 3, "addresses": 4, "senders": 2, "history": 4, "imports": 3,
                      "mailboxes": 2, "mailbox_history": 2}
    with Directory.open(pg_directory) as copy:
        assert (copy.units(), copy.history(), copy.mailboxes(), copy.mailbox_history(),
                copy.revision()) == expected
        assert copy.get("tinh").website == "a\x00b"
        copy.import_csv(UNITS, actor="d")  # the ids continue after the copied ones
        assert [(c.id, c.unit_id) for c in copy.history()[-2:]] == [(5, "tinh"), (6, "snv")]
        imports = copy.db.execute("SELECT id, kind FROM imports ORDER BY id").fetchall()
        assert imports == [(1, "units"), (2, "units"), (3, "mailboxes"), (4, "units")]
    with pytest.raises(StoreError, match="its table units is not empty"):
        copy_directory_to_postgresql(source, pg_directory)


def test_a_copy_refuses_a_file_of_another_version(pg_directory: DirectoryConfig,
                                                  tmp_path: Path) -> None:
    source = tmp_path / "directory.sqlite3"
    Directory.open(source).close()
    with Directory.open(source) as sqlite:
        sqlite.db.execute("PRAGMA user_version = 3")
    with pytest.raises(StoreError, match="schema version 3, this release's is"):
        copy_directory_to_postgresql(source, pg_directory)
    with pytest.raises(StoreError, match="no such directory store"):
        copy_directory_to_postgresql(tmp_path / "missing.sqlite3", pg_directory)
    with Directory.open(pg_directory, read_only=False) as empty:
        assert empty.units() == []


def test_history_json_is_the_same_text_on_both_backends(pg_directory: DirectoryConfig,
                                                       tmp_path: Path) -> None:
    said = []
    for where in (tmp_path / "d.sqlite3", pg_directory):
        with Directory.open(where) as store:
            store.import_csv(UNITS)
            said.append([json.loads(row[0]) for row in store.db.execute(
                "SELECT changes FROM history ORDER BY id").fetchall()])
    assert said[0] == said[1]
