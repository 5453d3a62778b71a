"""The log's unit filters through the console's API: sender_unit, recipient_unit, and
"outbound" with a unit meaning the mail that unit sent; an auditor's scope still holds.

The records (tests/support/webconsole.py): 1 stc->ubnd, 2 sgd->ubnd, 3 stc-a->sgd (all
outbound), 4 ubnd->stc-a (inbound).
"""

from __future__ import annotations

from support.webconsole import client, login


def _ids(c, query: str) -> set[int]:
    r = c.get(f"/api/audit/records?page_size=1000&{query}")
    assert r.status_code == 200, r.text
    return {item["id"] for item in r.json()["items"]}


def test_sender_and_recipient_unit(env):
    c = client(env.settings)
    login(c, "admin")
    assert _ids(c, "sender_unit=stc") == {1}
    assert _ids(c, "sender_unit=stc,sgd") == {1, 2}
    assert _ids(c, "recipient_unit=ubnd") == {1, 2}
    assert _ids(c, "recipient_unit=ubnd&sender_unit=sgd") == {2}
    assert _ids(c, "unit=ubnd") == {1, 2, 4}


def test_outbound_with_a_unit_is_what_the_unit_sent(env):
    c = client(env.settings)
    login(c, "admin")
    # stc and sgd sent 1 and 2 to ubnd: ubnd's mail, not ubnd's outbound mail
    assert _ids(c, "unit=ubnd&direction=outbound") == set()
    assert _ids(c, "unit=stc&direction=outbound") == {1}
    assert _ids(c, "unit=stc-a&direction=inbound") == {4}


def test_the_scope_holds_under_unit_filters(env):
    c = client(env.settings)
    login(c, "auditor-a")  # stc and stc-a
    assert _ids(c, "sender_unit=sgd") == set()
    assert _ids(c, "sender_unit=stc-a") == {3}
    assert _ids(c, "recipient_unit=ubnd") == {1}
    assert _ids(c, "direction=outbound") == {1, 3}
