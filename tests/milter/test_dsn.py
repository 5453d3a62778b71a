"""RFC 3461 parameter checks."""

from __future__ import annotations

import pytest

from milter.dsn import MAIL_PARAMETERS, RCPT_PARAMETERS, DsnSyntaxError, split


def test_mail_parameters_are_taken_aside_and_others_kept() -> None:
    assert split("FROM:<a@b.vn> SIZE=10 ret=hdrs ENVID=Q+2B1", MAIL_PARAMETERS) == (
        "FROM:<a@b.vn> SIZE=10", ["RET=HDRS", "ENVID=Q+2B1"])


def test_rcpt_parameters() -> None:
    assert split("TO:<c@d.vn> NOTIFY=success,delay ORCPT=rfc822;c@d.vn", RCPT_PARAMETERS) == (
        "TO:<c@d.vn>", ["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;c@d.vn"])
    assert split("TO:<c@d.vn> NOTIFY=NEVER", RCPT_PARAMETERS)[1] == ["NOTIFY=NEVER"]


@pytest.mark.parametrize(("arg", "allowed"), [
    ("FROM:<a@b.vn> RET=ALL", MAIL_PARAMETERS),
    ("FROM:<a@b.vn> ENVID=" + "x" * 101, MAIL_PARAMETERS),
    ("FROM:<a@b.vn> ENVID=a+zz", MAIL_PARAMETERS),
    ("TO:<c@d.vn> NOTIFY=NEVER,FAILURE", RCPT_PARAMETERS),
    ("TO:<c@d.vn> NOTIFY=SUCCESS,SUCCESS", RCPT_PARAMETERS),
    ("TO:<c@d.vn> NOTIFY=SOMETIMES", RCPT_PARAMETERS),
    ("TO:<c@d.vn> ORCPT=c@d.vn", RCPT_PARAMETERS),
    ("TO:<c@d.vn> NOTIFY=NEVER NOTIFY=NEVER", RCPT_PARAMETERS),
])
def test_malformed_parameters(arg: str, allowed: frozenset[str]) -> None:
    with pytest.raises(DsnSyntaxError):
        split(arg, allowed)
