"""The ARC validation suite (ValiMail's, protocol draft 18) against ``congvu auth check``.

Each group's key records are served by a DNS server on loopback, one per group; every
message runs through congvu's command line, all of them in one driver process
(support/clidriver.py), and congvu's ARC result is compared with the suite's ``cv``.
Where congvu deliberately gives another result than the suite, :data:`DEVIATIONS`
says which and why (signer/README.md lists them too): three expectations of the suite
predate RFC 8617 section 5.2 and say ``""`` where the RFC says fail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from support.clidriver import CliCase, CliOutcome, run_cli_cases
from support.dns import DnsServer

SUITE = Path(__file__).resolve().parent.parent / "data" / "peer-suites" / "arc" \
    / "arc-draft-validation-tests.yml"
_CV = {"pass": "pass", "fail": "fail", "none": "none", "": ""}
_PRE_RFC = "a chain whose newest ARC-Seal says cv=fail has failed (RFC 8617 5.2, step 2)"

DEVIATIONS: dict[str, tuple[str, str]] = {
    "cv_fail_i1_as_cv_fail": ("fail", _PRE_RFC),
    "cv_fail_i2_as2_fail": ("fail", _PRE_RFC),
    "cv_fail_i2_as1_fail": ("fail", _PRE_RFC),
}
"""Case id: (congvu's result, why it departs from the suite)."""


@dataclass(frozen=True)
class ArcCase:
    group: int
    id: str
    message: bytes
    expected: str


def _load() -> tuple[list[dict[str, str]], list[ArcCase]]:
    groups = list(yaml.load_all(SUITE.read_bytes(), Loader=yaml.CSafeLoader))
    cases = [ArcCase(n, name, test["message"].encode("utf-8"),
                     _CV[str(test["cv"]).strip().lower()])
             for n, group in enumerate(groups) for name, test in group["tests"].items()]
    return [group["txt-records"] for group in groups], cases


RECORDS, CASES = _load()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CliOutcome]]:
    with ExitStack() as running:
        servers = [running.enter_context(DnsServer(
            txt={name: " ".join(record.split()) for name, record in txt.items()}))
            for txt in RECORDS]
        cases = [CliCase(f"{c.group}/{c.id}", [
            "auth", "check", "--client-ip", "192.0.2.1", "--helo", "arc-suite.invalid",
            "--mail-from", "<>", "--dns", servers[c.group].address, "--timeout", "0.5"],
            c.message) for c in CASES]
        yield run_cli_cases(cases, tmp_path_factory.mktemp("arc"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_arc_validation_suite(outcomes: dict[str, CliOutcome], case: ArcCase) -> None:
    outcome = outcomes[f"{case.group}/{case.id}"]
    assert outcome.exit in (0, 1), outcome.stderr
    arc = json.loads(outcome.stdout)["arc"]
    expected = DEVIATIONS[case.id][0] if case.id in DEVIATIONS else case.expected
    assert arc["result"] == expected, arc["reason"]


def test_every_deviation_is_a_case_and_is_listed_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "signer" / "README.md").read_text()
    ids = {c.id for c in CASES}
    for case_id in DEVIATIONS:
        assert case_id in ids
        assert f"`{case_id}`" in readme
