"""dkimpy's DKIM test vectors (dkimpy 1.1.8's test data) against ``congvu dkim verify``.

dkimpy's tests (test_dkim.py, test_dkim_ed25519.py, test_dkim_rsavariants.py) keep
their vectors in data files (messages, keys, key records) and their expectations in
code: a message they sign with a vector key, or a message signed in the file, and
whether it verifies. Each case below restates one of them with its vector files; the
signing is dkimpy's, the verifying congvu's command line, every case in one driver
process (support/clidriver.py), each group of key records served by a DNS server on
loopback. dkimpy's "verifies" is a pass of its newest signature; congvu is held to
the result of every signature. Where congvu deliberately gives another result,
:data:`DEVIATIONS` says which and why (signer/README.md lists them too).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest

from support.clidriver import CliCase, CliOutcome, run_cli_cases
from support.dns import DnsServer

pytest.importorskip("nacl")  # dkimpy signs Ed25519 with PyNaCl (a test dependency)

DATA = Path(__file__).resolve().parent.parent / "data" / "peer-suites" / "dkimpy"
CANONS = [(h, b) for h in (b"simple", b"relaxed") for b in (b"simple", b"relaxed")]
# the key records dkimpy's tests give inline (in code, not in a data file)
SMALL_RSA = ("k=rsa; s=email;p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBANmBe10IgY+u7h3enWTukkqtUD5PR52T"
             "b/mPfjC0QJTocVBq6Za/PlzfV+Py92VaCak19F4WrbVTK5Gg5tW220MCAwEAAQ==")
SMALL_RSA_PRIVATE = b"""-----BEGIN RSA PRIVATE KEY-----
MIIBOwIBAAJBANmBe10IgY+u7h3enWTukkqtUD5PR52Tb/mPfjC0QJTocVBq6Za/
PlzfV+Py92VaCak19F4WrbVTK5Gg5tW220MCAwEAAQJAYFUKsD+uMlcFu1D3YNaR
EGYGXjJ6w32jYGJ/P072M3yWOq2S1dvDthI3nRT8MFjZ1wHDAYHrSpfDNJ3v2fvZ
cQIhAPgRPmVYn+TGd59asiqG1SZqh+p+CRYHW7B8BsicG5t3AiEA4HYNOohlgWan
8tKgqLJgUdPFbaHZO1nDyBgvV8hvWZUCIQDDdCq6hYKuKeYUy8w3j7cgJq3ih922
2qNWwdJCfCWQbwIgTY0cBvQnNe0067WQIpj2pG7pkHZR6qqZ9SE+AjNTHX0CIQCI
Mgq55Y9MCq5wqzy141rnxrJxTwK9ABo3IAFMWEov3g==
-----END RSA PRIVATE KEY-----
"""
CORRUPT_RSA = ("k=rsa; p=MFwwDQYJKoZIhvNAQEBBQADSwAwSAJBANmBe10IgY+u7h3enWTukkqtUD5PR52T"
               "b/mPfjC0QJTocVBq6Za/PlzfV+Py92VaCak19F4WrbVTK5Gg5tW220MCAwEAAQ==")
GMAIL = ("k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Kd87/UeJjenpabgbFwh+eBCsSTrqmwIY"
         "Yvywlbhbqoo2DymndFkbjOVIPIldNs/m40KF+yzMn1skyoxcTUGCQs8g3FgD2Ap3ZB5DekAo5wMmk4wimDO"
         "+U8QzI3SD07y2+07wlNWwIt8svnxgdxGkVbbhzY8i+RQ9DpSVpPbF7ykQxtKXkv/ahW3KjViiAH+ghvvIhk"
         "x4xYSIc9oSwVmAl5OctMEeWUwg8Istjqz8BZeTWbf41fbNhte7Y+YqZOwq1Sd0DbvYAD9NOZK9vlfuac059"
         "8HY+vtSBczUiKERHv1yRbcaQtZFh5wtiRrN04BLUTD21MycBX5jYchHjPY/wIDAQAB")
BRISBANE = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
ED_TEST = "v=DKIM1; k=ed25519; p=yi50DjK5O9pqbFpNHklsv9lqaS0ArSYu02qp1S0DW1Y="
ED_CANONICAL = "k=ed25519; p=yi50DjK5O9pqbFpNHklsv9lqaS0ArSYu02qp1S0DW1Y="
ED_CANONICAL_PRIVATE = b"fL+5V9EquCZAovKik3pA6Lk9zwCzoEtjIuIqK9ZXHHA="
CANONICAL_MESSAGE = (b"From: mbp@canonical.com\r\nTo: scottk@example.com\r\n"
                     b"Subject: this is my\r\n    test message\r\n")


def _data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _record(name: str) -> str:
    return _data(name).decode().strip()


# dkimpy's dnsfunc tables, by the test that uses them
ZONES: dict[str, dict[str, str]] = {
    "dnsfunc": {"test._domainkey.example.com": _record("test.txt"),
                "example._domainkey.canonical.com": SMALL_RSA,
                "20120113._domainkey.gmail.com": GMAIL},
    "dnsfunc2": {"test._domainkey.example.com": _record("test2.txt")},
    "dnsfunc3": {"test._domainkey.example.com": _record("badversion.txt")},
    "dnsfunc4": {"test._domainkey.example.com": _record("badk.txt")},
    "dnsfunc5": {"test._domainkey.football.example.com": _record("test.txt"),
                 "brisbane._domainkey.football.example.com": BRISBANE},
    "dnsfunc6": {"test._domainkey.football.example.com": CORRUPT_RSA,
                 "brisbane._domainkey.football.example.com": BRISBANE},
    "dnsfunc7": {"test._domainkey.legitimate.com(.attacker.com": _record("test.txt")},
    "ed25519": {"example._domainkey.canonical.com": ED_CANONICAL,
                "test._domainkey.example.net": ED_TEST,
                "sed._domainkey.test.ex": _record("eximtest.dns"),
                "brisbane._domainkey.football.example.com": BRISBANE},
    "rsavariants": {
        "test._domainkey.example.com": _record("1024_testkey_wo_markers.pub.txt"),
        "test2._domainkey.example.com": _record("1024_testkey_wo_markers.pub.rsa.txt"),
        "test3._domainkey.example.com": _record("2048_testkey_wo_markers.pub.txt"),
        "test4._domainkey.example.com": _record("2048_testkey_wo_markers.pub.rsa.txt"),
        "test5._domainkey.example.com": _record("2048_testkey_PKCS8.key.pub.txt")},
}

DEVIATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    f"signature-canonicalization-{mode}-{fold}": (
        ("permerror",), "RFC 8301 3.2: verifiers do not accept RSA keys under 1024 bits; "
                        "dkimpy's test lowers its minimum to 512 for its 512-bit key")
    for mode in ("relaxed", "simple") for fold in ("folded", "tab")}
"""Case id: (congvu's results, why they depart from dkimpy's expectation)."""


@dataclass(frozen=True)
class DkimCase:
    id: str
    zone: str
    message: Callable[[], bytes]
    results: tuple[str, ...]
    """congvu's result for each signature, newest first (dkimpy: only the newest counts)."""
    reason: str | None = None


def _signed(message: bytes, selector: bytes, domain: bytes, key: bytes, **kwargs: object
            ) -> Callable[[], bytes]:
    return lambda: dkim.sign(message, selector, domain, key, **kwargs) + message


def _ed(message: bytes, selector: bytes, domain: bytes, key: bytes, **kwargs: object
        ) -> Callable[[], bytes]:
    return _signed(message, selector, domain, key, signature_algorithm=b"ed25519-sha256",
                   **kwargs)


def _then(make: Callable[[], bytes], change: Callable[[bytes], bytes]) -> Callable[[], bytes]:
    return lambda: change(make())


def _from_added(front: bool) -> Callable[[], bytes]:
    """test_multiple_from_fails: dkimpy signs, then adds a From header (with CRLF)."""
    message = _data("test.message")
    head, body = message.split(b"\n\n", 1)
    extra = b'From: "Resident Evil" <sales@spammer.com>'

    def make() -> bytes:
        sig = dkim.sign(message, b"test", b"example.com", _data("test.private"))
        changed = extra + b"\r\n" + head if front else head + b"\r\n" + extra
        return sig + changed + b"\n\n" + body
    return make


def _canonical(key: bytes, mode: bytes, fold: str, **kwargs: object) -> Callable[[], bytes]:
    """test_dkim_signature_canonicalization: FWS added to b=, last fold a tab."""
    def make() -> bytes:
        header = dkim.fold(dkim.sign(CANONICAL_MESSAGE, b"example", b"canonical.com", key,
                                     canonicalize=(mode, b"relaxed"), **kwargs))
        if fold == "tab":
            pos = header.rindex(b"\r\n ")
            header = header[:pos] + b"\r\n\t" + header[pos + 3 :]
        return header + CANONICAL_MESSAGE
    return make


def _kitterman(**change: bytes) -> Callable[[], bytes]:
    """test_validate_signature_fields: its tag set as a DKIM-Signature over test.message."""
    tags = {b"v": b"1", b"a": b"rsa-sha256", b"c": b"simple/simple", b"d": b"kitterman.com",
            b"i": b"scott@Kitterman.com", b"s": b"2007-00", b"t": b"1299525798",
            b"h": b"From:To:Subject:Date:Cc:MIME-Version:Content-Type:\r\n \t "
                  b"Content-Transfer-Encoding:Message-Id",
            b"bh": b"n0HUwGCP28PkesXBPH82Kboy8LhNFWU9zUISIpAez7M=",
            b"b": b"K/UUOt8lCtgjp3kSTogqBm9lY1Yax/NwZ+bKm39/WKzo5KYe3L/6RoIA/0oiDX4kO\r\n \t "
                  b"Qut49HCV6ZUe6dY9V5qWBwLanRs1sCnObaOGMpFfs8tU4TWpDSVXaNZAqn15XVW0WH\r\n \t "
                  b"EzOzUfVuatpa1kF4voIgSbmZHR1vN3WpRtcTBe/I="}
    tags |= {name.encode(): value for name, value in change.items()}
    value = b"; ".join(k + b"=" + v for k, v in tags.items())
    return lambda: b"DKIM-Signature: " + value + b"\r\n" + _data("test.message")


def _cases() -> list[DkimCase]:
    msg, key = _data("test.message"), _data("test.private")
    rfc, rfc_signed = _data("rfc6376.msg"), _data("rfc6376.signed.msg")
    ed_msg, ed_key = _data("ed25519test.msg"), _data("ed25519test.key")
    cases = [
        DkimCase("verifies-nosig", "dnsfunc", lambda: msg, ("none",)),
        DkimCase("double-verifies", "dnsfunc5",
                 _signed(rfc, b"test", b"football.example.com", key), ("pass",)),
        DkimCase("double-previous-verifies", "dnsfunc5", lambda: rfc_signed, ("pass", "pass")),
        DkimCase("non-utf8", "dnsfunc5", lambda: _data("rfc6376.w1258.msg"), ("none",)),
        DkimCase("no-t", "dnsfunc5", lambda: _data("rfc6376.signed.no_t.msg"), ("fail",)),
        DkimCase("catch-bad-key", "dnsfunc6", lambda: _data("rfc6376.signed.rsa.msg"),
                 ("permerror",)),
        DkimCase("verifies-lflinesep", "dnsfunc",
                 _signed(msg, b"test", b"example.com", key, linesep=b"\n"), ("pass",)),
        DkimCase("implicit-k", "dnsfunc2", _signed(msg, b"test", b"example.com", key),
                 ("pass",)),
        DkimCase("bad-version", "dnsfunc3", _signed(msg, b"test", b"example.com", key),
                 ("permerror",), "is not DKIM1"),
        DkimCase("unknown-k", "dnsfunc4", _signed(msg, b"test", b"example.com", key),
                 ("permerror",), "has unknown type k='ed25519-sha256'"),
        DkimCase("invalid-domain-sign", "dnsfunc7",
                 _signed(msg, b"test", b"legitimate.com(.attacker.com", key), ("neutral",),
                 "d= is not a valid domain name"),
        DkimCase("invalid-domain-verify", "dnsfunc7",
                 lambda: _data("test.message.baddomain"), ("neutral",),
                 "d= is not a valid domain name"),
        DkimCase("add-body-length", "dnsfunc",
                 _signed(msg, b"test", b"example.com", key, length=True), ("pass",)),
        DkimCase("altered-body-fails", "dnsfunc",
                 _then(_signed(msg, b"test", b"example.com", key), lambda m: m + b"foo"),
                 ("fail",), "body hash did not verify"),
        DkimCase("l-verify", "dnsfunc",
                 _then(_signed(msg, b"test", b"example.com", key, length=True),
                       lambda m: m + b"added more text\n"), ("pass",)),
        DkimCase("badly-encoded-domain-fails", "dnsfunc",
                 _signed(msg, b"test", b"example.com\xe9", key), ("neutral",),
                 "d= is not a valid domain name"),
        DkimCase("degenerate-folding", "dnsfunc", lambda: _data("test2.message"), ("pass",)),
        DkimCase("multiple-from-unknown-header", "dnsfunc",
                 _then(_signed(msg, b"test", b"example.com", key),
                       lambda m: m.replace(b"\n\n", b"\r\nX-Foo: bar\n\n", 1)), ("pass",)),
        DkimCase("multiple-from-at-end-fails", "dnsfunc", _from_added(front=False), ("fail",)),
        DkimCase("multiple-from-in-front-fails", "dnsfunc", _from_added(front=True), ("fail",)),
        DkimCase("validate-fields", "dnsfunc", _kitterman(), ("fail",),
                 "body hash did not verify"),
        DkimCase("validate-fields-v2", "dnsfunc", _kitterman(v=b"2"), ("neutral",),
                 "unsupported version"),
        DkimCase("validate-fields-late-t", "dnsfunc",
                 _kitterman(x=b"1399525798", t=b"1400000000"), ("neutral",),
                 "x= is earlier than t="),
        DkimCase("validate-fields-expired", "dnsfunc",
                 _kitterman(x=str(int(time.time()) - 24 * 3600).encode()), ("fail",),
                 "signature expired"),
        DkimCase("ed25519-rfc8032-verifies", "ed25519",
                 _ed(rfc, b"brisbane", b"football.example.com", _data("rfc8032_7_1.key")),
                 ("pass",)),
        DkimCase("ed25519-verify-third-party", "ed25519", lambda: _data("ed25519test2.msg"),
                 ("pass",)),
        DkimCase("ed25519-add-body-length", "ed25519",
                 _ed(ed_msg, b"test", b"example.net", ed_key, length=True), ("pass",)),
        DkimCase("ed25519-altered-body-fails", "ed25519",
                 _then(_ed(ed_msg, b"test", b"example.net", ed_key), lambda m: m + b"foo"),
                 ("fail",)),
        DkimCase("ed25519-badly-encoded-domain-fails", "ed25519",
                 _ed(ed_msg, b"test", b"example.net\xe9", ed_key), ("neutral",)),
    ]
    for h, b in CANONS:
        canon = f"{h.decode()}-{b.decode()}"
        cases += [
            DkimCase(f"verifies-{canon}", "dnsfunc",
                     _signed(msg, b"test", b"example.com", key, canonicalize=(h, b)), ("pass",)),
            DkimCase(f"simple-signature-{canon}", "dnsfunc",
                     _signed(msg, b"test", b"example.com", key, canonicalize=(h, b),
                             include_headers=(b"from", *dkim.DKIM.SHOULD)), ("pass",)),
            DkimCase(f"extra-headers-{canon}", "dnsfunc", _extra_headers(h, b),
                     ("pass", "permerror")),
            DkimCase(f"ed25519-verifies-{canon}", "ed25519",
                     _ed(ed_msg, b"test", b"example.net", ed_key, canonicalize=(h, b)),
                     ("pass",)),
        ]
        for n, (selector, key_file) in enumerate([
                (b"test", "1024_testkey.key"), (b"test2", "1024_testkey.key"),
                (b"test3", "2048_testkey.key"), (b"test4", "2048_testkey.key"),
                (b"test5", "2048_testkey_PKCS8.key")], start=1):
            cases.append(DkimCase(f"rsavariants-{n}-{canon}", "rsavariants", _signed(
                msg, selector, b"example.com", _data(key_file), canonicalize=(h, b)), ("pass",)))
    for mode in (b"relaxed", b"simple"):
        for fold in ("folded", "tab"):
            suffix = f"{mode.decode()}-{fold}"
            cases += [
                DkimCase(f"signature-canonicalization-{suffix}", "dnsfunc",
                         _canonical(SMALL_RSA_PRIVATE, mode, fold), ("pass",)),
                DkimCase(f"ed25519-signature-canonicalization-{suffix}", "ed25519",
                         _canonical(ED_CANONICAL_PRIVATE, mode, fold,
                                    signature_algorithm=b"ed25519-sha256"), ("pass",))]
    return cases


def _extra_headers(h: bytes, b: bytes) -> Callable[[], bytes]:
    """test_extra_headers: every header signed, a repeated Received among them; the
    message's own older signature (kitterman.com's key is not published) stays."""
    message = _data("message.mbox")

    def make() -> bytes:
        d = dkim.DKIM(message)
        d.should_not_sign.remove(b"received")
        return d.sign(b"test", b"example.com", _data("test.private"),
                      include_headers=d.all_sign_headers(), canonicalize=(h, b)) + message
    return make


CASES = _cases()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, CliOutcome]]:
    servers = {name: DnsServer(txt=dict(records)) for name, records in ZONES.items()}
    try:
        for server in servers.values():
            server.start()
        cases = [CliCase(c.id, ["dkim", "verify", "--json", "--dns", servers[c.zone].address,
                                "--timeout", "1"], c.message()) for c in CASES]
        yield run_cli_cases(cases, tmp_path_factory.mktemp("dkimpy"))
    finally:
        for server in servers.values():
            server.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_dkimpy_vectors(outcomes: dict[str, CliOutcome], case: DkimCase) -> None:
    outcome = outcomes[case.id]
    results = [json.loads(line) for line in outcome.stdout.splitlines()]
    expected = DEVIATIONS[case.id][0] if case.id in DEVIATIONS else case.results
    assert tuple(r["result"] for r in results) == expected, results
    assert outcome.exit == (0 if expected[0] == "pass" else 1), outcome.stderr
    if case.reason is not None:
        assert case.reason in results[0]["reason"]


def test_every_deviation_is_a_case_and_is_listed_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "signer" / "README.md").read_text()
    ids = {c.id for c in CASES}
    for case_id in DEVIATIONS:
        assert case_id in ids
        assert f"`{case_id}`" in readme
