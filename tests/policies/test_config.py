"""PoliciesConfig: the default, overrides per unit and direction, inheritance, validation."""

from __future__ import annotations

import pydantic
import pytest

from policies import DEFAULT_ACTIONS, REGISTRY, Action, PoliciesConfig, decide

from .conftest import corpus_module as cm


def test_registry_names_match_the_classes() -> None:
    for name, rule in REGISTRY.items():
        assert rule.name == name
        assert rule.description
        assert name == name.lower() and " " not in name
    assert set(DEFAULT_ACTIONS) == set(REGISTRY)


def test_unknown_rule_name_is_a_validation_error() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"unknown rule name.*no-such-rule"):
        PoliciesConfig(actions={"no-such-rule": Action.REJECT})
    with pytest.raises(pydantic.ValidationError, match="unknown rule name"):
        PoliciesConfig.model_validate(
            {"overrides": [{"unit": "x", "actions": {"macros": "reject"}}]})


def test_reject_text_must_be_ascii() -> None:
    with pytest.raises(pydantic.ValidationError, match="ASCII"):
        PoliciesConfig(reject_text_vi="Thư bị từ chối")


def test_bad_tag_header_name() -> None:
    with pytest.raises(pydantic.ValidationError, match="header field name"):
        PoliciesConfig(tag_header="X Bad: header")


def test_inheritance_and_direction() -> None:
    config = PoliciesConfig.model_validate({
        "actions": {"macro": "reject"},
        "overrides": [
            {"unit": "province", "actions": {"pdf-embedded-file": "quarantine"}},
            {"unit": "dept", "direction": "inbound", "actions": {"allowed-types": "reject"},
             "allowed_extensions": ["PDF", ".docx"]},
            {"unit": "dept", "actions": {"macro": "tag"}},
        ],
    })
    chain = ["dept", "province"]
    inbound = config.resolve(chain, "inbound").actions
    outbound = config.resolve(chain, "outbound").actions
    assert inbound["macro"] == outbound["macro"] == Action.TAG
    assert inbound["pdf-embedded-file"] == Action.QUARANTINE
    assert inbound["allowed-types"] == Action.REJECT
    assert "allowed-types" not in outbound  # accept: the rule is off
    assert config.resolve(["other", "province"], "inbound").actions["macro"] == Action.REJECT
    assert config.resolve(chain, "inbound") is config.resolve(chain, "inbound")


def test_allow_list_mode() -> None:
    config = PoliciesConfig.model_validate({
        "actions": {"allowed-types": "reject"}, "allowed_extensions": ["pdf"]})
    policy = config.resolve(["u"], "inbound")
    ok = decide(cm.message(cm.attachment(cm.PDF, "a.pdf")), policy)
    bad = decide(cm.message(cm.attachment(cm.PNG, "a.png")), policy)
    zipped = decide(cm.message(cm.attachment(cm.zip_of({"a.png": cm.PNG}), "a.pdf")), policy)
    assert ok.action is Action.ACCEPT
    assert bad.action is Action.REJECT and bad.violations[0].rule == "allowed-types"
    assert any(v.member == "a.png" for v in zipped.violations if v.rule == "allowed-types")


def test_size_and_count_thresholds() -> None:
    config = PoliciesConfig.model_validate({
        "max_attachment_size": 100, "max_message_size": 5000, "max_attachments": 1})
    policy = config.resolve(["u"], "outbound")
    raw = cm.message(cm.attachment(cm.PDF, "a.pdf"), cm.attachment(cm.PNG, "b.png"))
    rules = {v.rule for v in decide(raw, policy).violations}
    assert rules == {"attachment-size", "message-size", "attachment-count"}
