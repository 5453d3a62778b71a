"""The stage table: which stages there are, the order they run in, and their documentation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from milter.config import PipelineConfig
from milter.pipeline import PipelineOrderError, StageKind, check_order
from milter.runtime import build_runtime
from milter.stages import ON_RELEASE, STAGES, SWITCHES, describe_switches, markdown
from signer.keys import Algorithm
from support.dkim import make_key
from support.smime import ALICE, DOMAIN, cast

ROOT = Path(__file__).resolve().parents[2]


def built(config) -> list[str]:  # type: ignore[no-untyped-def]
    """The names of the stages a runtime of ``config`` runs, each checked against its row."""
    runtime = build_runtime(config)
    try:
        stages = runtime.pipeline.stages
    finally:
        asyncio.run(runtime.close())
    rows = {row.name: row for row in STAGES}
    for stage in stages:
        row = rows[stage.name.partition(":")[0]]
        assert isinstance(stage, row.stage) and stage.kind is row.kind
    return [stage.name for stage in stages]


def test_architecture_shows_the_table_as_the_code_has_it() -> None:
    # ARCHITECTURE.md indents the table inside its list of steps
    text = "\n".join(line.strip() for line in
                     (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines())
    assert markdown() in text


def test_the_readme_lists_the_stages_in_the_table_s_order_with_their_kinds() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The pipeline"):text.index("## How the filter answers")]
    rows = [line.split("|")[1:3] for line in section.splitlines() if line.startswith("| `")]
    assert [(name.strip(" `").removesuffix(":*"), kind.strip()) for name, kind in rows] == [
        (row.name, row.kind.name.lower()) for row in STAGES]


def test_the_configuration_reference_explains_the_switches() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert describe_switches() in reference
    assert describe_switches().startswith("Switches, not an order")


def test_the_switches_are_the_table_s_and_all_on_by_default() -> None:
    assert PipelineConfig().stages == list(SWITCHES) == [
        "units", "verify", "documents", "dmarc", "authentication-results", "policy",
        "smime-sign", "dkim-sign"]
    with pytest.raises(ValidationError, match="known: units, verify, documents, dmarc"):
        PipelineConfig(stages=["add-header"])  # on by its headers, not a switch
    # release runs who sent it, then signing
    assert {"units", "smime-sign", "dkim-sign", "archive"} == ON_RELEASE


def test_the_order_check_names_the_stages_it_refuses() -> None:
    with pytest.raises(PipelineOrderError, match=r"dkim-sign \(sign\), policy \(change\)"):
        check_order([("dkim-sign", StageKind.SIGN), ("policy", StageKind.CHANGE)])


def test_every_stage_is_built_in_the_table_order_whatever_the_switches_say(
        filter_config, tmp_path: Path) -> None:
    (tmp_path / "dkim").mkdir()
    key = make_key(tmp_path / "dkim", "s1", Algorithm.RSA_SHA256)
    cert, private = cast().alice.write(tmp_path / "smime", "alice")
    config = filter_config(
        pipeline={"stages": list(reversed(SWITCHES)),
                  "add_headers": [{"name": "X-Node", "value": "a"}]},
        signer={"dkim": {"keys": [{"domain": f"so-tc.{DOMAIN}", "selector": "s1",
                                   "key_file": str(key.path), "algorithm": "rsa-sha256"}]},
                "smime": {"identities": [{"address": ALICE, "cert": str(cert),
                                          "key": str(private)}]}})
    assert built(config) == [
        "units", "verify", "documents", "add-header:X-Node", "dmarc",
        "authentication-results", "policy", "smime-sign", "dkim-sign", "archive"]


def test_a_stage_switched_off_or_lacking_what_it_needs_is_not_built(filter_config) -> None:
    # no key and no identity: the signing stages are not built; dmarc needs verify
    config = filter_config(pipeline={"stages": ["dmarc", "policy", "smime-sign", "dkim-sign"]})
    assert built(config) == ["policy"]  # nor is the archive without units: whose mail?
    config = filter_config(pipeline={"stages": ["units"]})
    assert built(config) == ["units", "archive"]  # the archive is on unless disabled
    config = filter_config(pipeline={"stages": ["units"]}, archive={"enabled": False})
    assert built(config) == ["units"]
