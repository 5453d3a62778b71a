"""The RFC 7208 SPF test suite (the SPF community's, as pyspf 2.0.14 ships it) against
``congvu auth check``.

Each scenario's zone data is served by a DNS server on loopback, one per scenario (their
names clash); every case runs through congvu's command line, all of them in one driver
process (support/clidriver.py). A case passes when congvu's SPF result is one the suite
allows and, on fail, its explanation is the one the suite expects. Where congvu
deliberately gives another result than the suite, :data:`DEVIATIONS` says which and
why (signer/README.md lists them too), and the test holds congvu to that result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.clidriver import CliCase, CliOutcome, run_cli_cases
from support.dns import DnsServer, quoted

SUITE = Path(__file__).resolve().parent.parent / "data" / "peer-suites" / "rfc7208" \
    / "rfc7208-tests.yml"
MESSAGE = b"From: suite@spf-suite.invalid\r\nSubject: rfc7208\r\n\r\nbody\r\n"
_TYPES = ("A", "AAAA", "MX", "PTR", "TXT", "CNAME", "SPF")

DEVIATIONS: dict[str, tuple[str, str]] = {}
"""Case id: (congvu's result, why it departs from the suite). None today."""


@dataclass(frozen=True)
class SpfCase:
    scenario: int
    id: str
    host: str
    helo: str
    mailfrom: str
    results: tuple[str, ...]
    explanation: str | None


def _load() -> tuple[list[dict[str, Any]], list[SpfCase]]:
    scenarios = list(yaml.load_all(SUITE.read_bytes(), Loader=yaml.CSafeLoader))
    cases = []
    for n, scenario in enumerate(scenarios):
        for name, test in scenario["tests"].items():
            results = test["result"] if isinstance(test["result"], list) else [test["result"]]
            explanation = test.get("explanation")
            cases.append(SpfCase(n, name, str(test["host"]), str(test["helo"]),
                                 str(test["mailfrom"]), tuple(results),
                                 None if explanation in (None, "DEFAULT") else explanation))
    return scenarios, cases


SCENARIOS, CASES = _load()


def _serve(server: DnsServer, zonedata: dict[str, list[Any]]) -> None:
    """The suite's zone data as testspf.py reads it: a bare TIMEOUT makes every type the
    name does not hold time out; SPF records stand in as TXT where a name has no TXT."""
    for name, records in zonedata.items():
        entries = [r for r in records if isinstance(r, dict)]
        held = {t for r in entries for t in r}
        if any(len(label) > 63 for label in name.split(".")):
            continue  # a name no DNS server can hold: it answers NXDOMAIN, as the suite means
        for record in entries:
            for rdtype, value in record.items():
                _add(server, name, rdtype, value, has_txt="TXT" in held)
        if "TIMEOUT" in records:
            if not entries:
                server.set_timeout(name)
            for rdtype in _TYPES:
                if rdtype not in held or (rdtype == "TXT" and all(
                        r.get("TXT") == "NONE" for r in entries if "TXT" in r)):
                    server.set_timeout(name, rdtype)


def _add(server: DnsServer, name: str, rdtype: str, value: Any, *, has_txt: bool) -> None:
    if value == "TIMEOUT":
        server.set_timeout(name, rdtype)
        return
    if rdtype in ("TXT", "SPF"):
        strings = [s.encode("utf-8") for s in (value if isinstance(value, list) else [value])]
        if value == "NONE" or not strings:
            return  # no record (NONE), or one of no strings: illegal, none a server holds
        if rdtype == "SPF":
            server.add(name, "SPF", " ".join(quoted(s) for s in strings))
        if rdtype == "TXT" or not has_txt:
            server.add_txt(name, strings)
        return
    if rdtype == "MX":
        server.add_mx(name, int(value[0]), str(value[1]))
    elif rdtype in ("PTR", "CNAME"):
        server.add(name, rdtype, str(value).rstrip(".") + ".")
    else:
        server.add(name, rdtype, str(value))


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CliOutcome]]:
    with ExitStack() as running:
        servers = [running.enter_context(DnsServer()) for _ in SCENARIOS]
        for server, scenario in zip(servers, SCENARIOS, strict=True):
            _serve(server, scenario["zonedata"])
        cases = [CliCase(f"{c.scenario}/{c.id}", [
            "auth", "check", "--client-ip", c.host, "--helo", c.helo,
            "--mail-from", c.mailfrom or "<>", "--dns", servers[c.scenario].address,
            "--timeout", "0.3"], MESSAGE) for c in CASES]
        yield run_cli_cases(cases, tmp_path_factory.mktemp("rfc7208"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rfc7208_suite(outcomes: dict[str, CliOutcome], case: SpfCase) -> None:
    outcome = outcomes[f"{case.scenario}/{case.id}"]
    assert outcome.exit in (0, 1), outcome.stderr
    spf = json.loads(outcome.stdout)["spf"]
    if case.id in DEVIATIONS:
        assert spf["result"] == DEVIATIONS[case.id][0], spf["reason"]
        return
    assert spf["result"] in case.results, spf["reason"]
    if spf["result"] == "fail":
        assert spf["explanation"] == case.explanation


def test_every_deviation_is_a_case_and_is_listed_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "signer" / "README.md").read_text()
    ids = {c.id for c in CASES}
    for case_id in DEVIATIONS:
        assert case_id in ids
        assert f"`{case_id}`" in readme
