"""Per-unit actions on inbound DMARC failures: inheritance and validation."""

from __future__ import annotations

import tomllib

import pydantic
import pytest

from policies import Action, PoliciesConfig

CONFIG = PoliciesConfig.model_validate(tomllib.loads("""
on_dmarc_fail = "tag"

[[overrides]]
unit = "province"
on_dmarc_reject = "quarantine"

[[overrides]]
unit = "sotc"
on_dmarc_reject = "reject"
on_dmarc_quarantine = "reject"

[[overrides]]
unit = "sotc"
direction = "inbound"
on_dmarc_fail = "quarantine"

[[overrides]]
unit = "xa1"
direction = "outbound"
on_dmarc_reject = "accept"
"""))


def actions(chain: list[str], direction: str = "inbound") -> tuple[
        Action | None, Action | None, Action | None]:
    policy = CONFIG.resolve(chain, direction)
    return policy.on_dmarc_reject, policy.on_dmarc_quarantine, policy.on_dmarc_fail


def test_nothing_set_inherits_from_signer_auth() -> None:
    policy = PoliciesConfig().resolve(["sotc", "province"], "inbound")
    assert (policy.on_dmarc_reject, policy.on_dmarc_quarantine, policy.on_dmarc_fail) == (
        None, None, None)


def test_top_level_then_ancestor_then_unit_then_direction() -> None:
    # no unit: the top-level [policies] value only
    assert actions([]) == (None, None, Action.TAG)
    # a descendant without its own override inherits the province's
    assert actions(["ubnd", "province"]) == (Action.QUARANTINE, None, Action.TAG)
    # the unit's own values win; its inbound-only override adds on_dmarc_fail
    assert actions(["sotc", "province"]) == (Action.REJECT, Action.REJECT, Action.QUARANTINE)
    assert actions(["sotc", "province"], "outbound") == (Action.REJECT, Action.REJECT,
                                                         Action.TAG)
    # a commune under sotc inherits all of it
    assert actions(["phong", "sotc", "province"]) == (Action.REJECT, Action.REJECT,
                                                      Action.QUARANTINE)
    # an outbound-only override does not change inbound
    assert actions(["xa1", "province"]) == (Action.QUARANTINE, None, Action.TAG)
    assert actions(["xa1", "province"], "outbound")[0] == Action.ACCEPT


def test_attachment_actions_are_unchanged_by_dmarc_fields() -> None:
    assert CONFIG.resolve(["sotc"], "inbound").actions == PoliciesConfig().resolve(
        ["sotc"], "inbound").actions


@pytest.mark.parametrize("value", ["strip", "tempfail", "Reject", "", 1])
def test_only_accept_tag_quarantine_reject(value: object) -> None:
    with pytest.raises(pydantic.ValidationError, match="on_dmarc_fail") as caught:
        PoliciesConfig.model_validate(
            {"overrides": [{"unit": "sotc", "on_dmarc_fail": value}]})
    assert "'accept', 'tag', 'quarantine' or 'reject'" in str(caught.value)


def test_unknown_dmarc_key_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="on_dmarc_temperror"):
        PoliciesConfig.model_validate(
            {"overrides": [{"unit": "sotc", "on_dmarc_temperror": "reject"}]})
