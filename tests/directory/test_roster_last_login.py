"""The roster's optional last_login column: its forms, every bad cell reported at once,
kept as an observation (not in the history), exported and imported back unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from directory import Directory, ImportRejected
from directory.roster import parse_last_login

D = "laocai.gov.vn"
UNITS = (
    "id,name,parent,address\n"
    f"ubnd-tinh,UBND tỉnh,,ubnd@{D}\n"
    f"so-tai-chinh,Sở Tài chính,ubnd-tinh,stc@{D}\n"
)
HEADER = "address,full_name,unit,created,last_login\n"


@pytest.fixture
def units(store: Directory) -> Directory:
    store.import_csv(UNITS, actor="fixture")
    return store


def logins(store: Directory) -> dict[str, datetime | None]:
    return {m.address.addr_spec: m.last_login for m in store.mailboxes()}


@pytest.mark.parametrize(("cell", "expected"), [
    ("2026-03-31", datetime(2026, 3, 30, 17, 0, tzinfo=UTC)),  # midnight in Vietnam
    ("20260331", datetime(2026, 3, 30, 17, 0, tzinfo=UTC)),  # the basic ISO form
    ("2026-03-31 08:15", datetime(2026, 3, 31, 1, 15, tzinfo=UTC)),
    ("2026-03-31T08:15:00+00:00", datetime(2026, 3, 31, 8, 15, tzinfo=UTC)),
    ("1774944900", datetime(2026, 3, 31, 8, 15, tzinfo=UTC)),  # Dovecot's Unix seconds
    (" ", None),
])
def test_the_forms_a_last_login_may_take(cell: str, expected: datetime | None) -> None:
    assert parse_last_login(cell) == expected


def test_every_bad_cell_of_a_file_is_reported_at_once(units: Directory) -> None:
    text = HEADER + (
        f"a@{D},A,so-tai-chinh,2026-01-01,yesterday\n"
        f"b@{D},,so-tai-chinh,2026-13-01,2999-01-01\n"
        f"not-an-address,C,so-tai-chinh,,\n"
        f"d@{D},D,no-such-unit,,2026-03-01\n"
    )
    with pytest.raises(ImportRejected) as exc:
        units.import_mailboxes(text)
    found = [(e.row, e.column) for e in exc.value.errors]
    assert found == [(2, "last_login"), (3, "created"), (3, "full_name"), (3, "last_login"),
                     (4, "address"), (5, "unit")]
    reasons = {(e.row, e.column): e.reason for e in exc.value.errors}
    assert "is not a time" in reasons[(2, "last_login")]
    assert reasons[(3, "last_login")] == "'2999-01-01' is in the future"
    assert units.mailboxes() == []  # nothing imported


def test_a_last_login_is_an_observation_kept_outside_the_history(units: Directory) -> None:
    units.import_mailboxes(HEADER + f"a@{D},A,so-tai-chinh,2026-01-01,\n", actor="admin")
    assert logins(units) == {f"a@{D}": None}
    summary = units.import_mailboxes(
        HEADER + f"a@{D},A,so-tai-chinh,2026-01-01,2026-03-31T08:15:00+07:00\n", actor="admin")
    assert (summary.updated, summary.unchanged) == ((), 1)
    assert logins(units) == {f"a@{D}": datetime(2026, 3, 31, 1, 15, tzinfo=UTC)}
    assert [c.action for c in units.mailbox_history()] == ["created"]
    # a file without the column keeps the last login the store has
    units.import_mailboxes(f"address,full_name,unit\na@{D},A,so-tai-chinh\n", actor="admin")
    assert logins(units)[f"a@{D}"] == datetime(2026, 3, 31, 1, 15, tzinfo=UTC)


def test_the_export_carries_it_and_imports_back_unchanged(units: Directory) -> None:
    units.import_mailboxes(HEADER + f"a@{D},A,so-tai-chinh,2026-01-01,1774944900\n")
    text = units.export_mailboxes_csv()
    assert "2026-01-01,2026-03-31T08:15:00+00:00" in text
    again = units.import_mailboxes(text)
    assert (again.created, again.updated, again.unchanged) == ((), (), 1)
    assert json.loads(units.export_mailboxes_json())[0]["last_login"] == (
        "2026-03-31T08:15:00+00:00")
