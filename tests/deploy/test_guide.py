"""deploy/README.md, run as written on a server of its own (tests/deploy/guide_runner.py):
every ``sh`` block in order with ``bash -e``, from the offline bundle's tarball to a
passing probe, against a real Postfix and Dovecot, in mount and network namespaces
where the guide's own paths and ports are overlays and a private loopback. A command,
path, file name, table or step that no longer works fails here, so the guide cannot go
stale. The page's blocks must name congvu's places through its variables, and nothing
outside congvu's own places (and Postfix's, the user, the units) may change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import dovecot, postfix
from support.docblocks import blocks

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "deploy" / "README.md"
RUNNER = Path(__file__).with_name("guide_runner.py")
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]["version"]
VARIABLES = {"ETC": "/etc/congvu", "VAR": "/var/lib/congvu", "PREFIX": "/opt/congvu",
             "POSTFIX_CONF": "/etc/postfix"}


def test_the_guide_names_its_places_through_the_variables_of_its_first_block() -> None:
    page = blocks(PAGE.read_text("utf-8"))
    language, first = page[0]
    assert language == "sh"
    assigned = dict(re.findall(r"(?m)^(\w+)=(\S+)", first))
    assert assigned == VARIABLES
    literal = [(body.splitlines()[0], path) for language, body in page[1:] if language == "sh"
               for path in VARIABLES.values() if re.search(rf"{re.escape(path)}\b", body)]
    assert literal == []


def _skip_reason() -> str | None:
    if shutil.which("unshare") is None:
        return "util-linux's unshare is missing"
    if subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True,
                      check=False).returncode != 0:
        return "this user may not make mount and network namespaces (needs root)"
    return postfix.missing() or dovecot.missing()


@pytest.fixture(scope="module")
def guide(bundle: Path, previous_bundle: Path) -> Iterator[dict[str, Any]]:
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(f"LOUD SKIP: the guide runs on a server of its own: {reason}")
    # Not under pytest's temporary directories: congvu, Postfix and Dovecot's auth read
    # here as their own users, and every pytest that starts (another xdist worker, another
    # run on the machine) sets /tmp/pytest-of-USER back to 0700 on the way.
    work = Path(tempfile.mkdtemp(prefix="congvu-guide-"))
    work.chmod(0o711)
    try:
        yield _run_guide(bundle, previous_bundle, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_guide(bundle: Path, previous: Path, work: Path) -> dict[str, Any]:
    tarball = bundle.with_name(bundle.name + ".tar.gz")
    try:
        # every process of the run is in its pid namespace, so a run stopped here takes
        # its Postfix, Dovecot and congvu with it; the limit only stops a hang. The
        # namespace's first process is a shell, which reaps the daemons the stand-ins
        # leave to it (a process the runner stops must not stay a zombie)
        done = subprocess.run(
            ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--mount-proc",
             "--", "/bin/sh", "-c", '"$@"; exit $?', "sh",
             sys.executable, str(RUNNER), str(work), str(tarball), str(previous)],
            capture_output=True, text=True, timeout=1800, check=False,
            env={**os.environ, "CONGVU_CONFIG": "none"})
    except subprocess.TimeoutExpired:
        progress = work / "progress.log"
        pytest.fail("the guide's run did not end in 30 minutes; the blocks it ran:\n"
                    + (progress.read_text() if progress.exists() else "none"))
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, Any] = json.loads((work / "result.json").read_text("utf-8"))
    assert "error" not in result, result["error"]
    return result


def _timings(result: dict[str, Any]) -> str:
    """Where the run's time went: each stage, and each block slower than two seconds."""
    stages = "".join(f"{seconds:7.1f} s  {stage}\n" for stage, seconds in result["timings"])
    slow = "".join(f"{b['seconds']:7.1f} s    {b['block'].splitlines()[0][:70]}\n"
                   for b in result["blocks"] + result.get("runbooks", []) if b["seconds"] > 2)
    return stages + slow


def _failed(result: dict[str, Any]) -> str:
    last = result["blocks"][-1]
    logs = "".join(f"\n--- {name}\n{text}" for name, text in last.get("logs", {}).items())
    return (f"block failed ({last['status']}):\n{last['block']}\n--- stdout\n{last['stdout']}"
            f"\n--- stderr\n{last['stderr']}{logs}")


@pytest.mark.e2e
def test_every_block_of_the_guide_runs(guide: dict[str, Any]) -> None:
    sh = [body for language, body in blocks(PAGE.read_text("utf-8"))[1:] if language == "sh"]
    # doctor's 1 (warnings only) before the key is pinned; the next test reads them
    first_doctor = next(i for i, body in enumerate(sh) if "congvu doctor" in body)
    expected = [1 if i == first_doctor else 0 for i in range(len(sh))]
    assert [b["status"] for b in guide["blocks"]] == expected, _failed(guide)
    print(_timings(guide))  # shown with -rP: where the test's time goes


def _ran(result: dict[str, Any], start: str) -> list[dict[str, Any]]:
    return [b for b in result["blocks"] if b["block"].startswith(start)]


@pytest.mark.e2e
def test_doctor_warns_only_of_the_unpinned_key_then_finds_everything_ok(
        guide: dict[str, Any]) -> None:
    first, last = _ran(guide, "runuser -u congvu -- congvu doctor")
    problems = [line.split(":", 1)[0] for line in first["stdout"].splitlines()
                if line.startswith(("WARNING", "ERROR"))]
    assert problems == ["WARNING audit.checkpoint_public_keys"], first["stdout"]
    assert last["status"] == 0, last["stdout"]
    # the package list, postfix's three paths and the listeners were checked, not skipped
    assert "OK      package libarchive13" in last["stdout"]
    assert "ERROR" not in last["stdout"] and "WARNING" not in last["stdout"]


@pytest.mark.e2e
def test_the_probe_passes_signed_and_audited(guide: dict[str, Any]) -> None:
    [probe] = [b for b in guide["blocks"] if "congvu probe" in b["block"]]
    line = probe["stdout"].strip().splitlines()[-1]
    assert line.startswith("CONGVU OK - canary <congvu-probe-"), probe["stdout"]
    assert "DKIM pass (d=binhthuan.gov.vn, s=s202611); S/MIME pass (kiemtra@" in line


@pytest.mark.e2e
def test_the_inspectors_verify_the_copy_with_the_pinned_key(guide: dict[str, Any]) -> None:
    [verify] = _ran(guide, "# on the inspectors' machine")
    assert verify["status"] == 0, verify["stdout"] + verify["stderr"]


@pytest.mark.e2e
def test_port_25_refuses_in_the_session_and_the_province_sends_no_bounce(
        guide: dict[str, Any]) -> None:
    mail = guide["mail"]
    code, text = mail["unknown_rcpt"]
    assert code == 550, text  # at RCPT, before the queue
    code, text = mail["forged"]
    assert code == 550 and "forged" in text, text  # congvu's reply, through the proxy
    assert mail["delivered"][0] == 250
    assert mail["queue"] == []  # nothing waits, nothing bounces
    [delivered] = mail["sotc_mailbox"]
    assert "Message-ID: <outside@example.org>" in delivered
    assert "Authentication-Results: mail.binhthuan.gov.vn" in delivered


@pytest.mark.e2e
def test_the_console_answers_behind_nginx_over_tls(guide: dict[str, Any]) -> None:
    console = guide["console"]
    assert console["/"]["status"] == 200
    assert "Sở Tài chính" in console["/"]["body"]
    assert console["/login"]["status"] == 200
    assert console["/login"]["cookies"]
    assert all("Secure" in cookie for cookie in console["/login"]["cookies"])
    assert console["http"] == {"status": 301,
                               "location": "https://congvu.binhthuan.gov.vn/login"}


#: What the guide may change on the server: congvu's places, its user, its units, the
#: site it gives nginx, Postfix's files and queue, and the logs. Anything else is a
#: step the guide does not say it takes.
MAY_CHANGE = (
    "/etc/congvu/", "/etc/systemd/system/congvu", "/etc/passwd", "/etc/group",
    "/etc/shadow", "/etc/gshadow", "/etc/.pwd.lock", "/etc/postfix/", "/etc/nginx/sites-",
    "/etc/ssl/congvu/", "/opt/congvu/", "/usr/local/bin/congvu", "/var/lib/congvu/",
    "/var/backups/congvu/", "/var/spool/postfix/", "/var/lib/postfix/", "/var/log/",
    "/var/lib/nginx/", "/run/nginx.pid",
)


@pytest.mark.e2e
def test_nothing_outside_congvus_places_changed(guide: dict[str, Any]) -> None:
    assert [path for path in guide["changed"] if not path.startswith(MAY_CHANGE)] == []
    assert "/usr/local/bin/congvu" in guide["changed"]


RUNBOOKS = ROOT / "docs" / "runbooks.md"


def test_the_runbooks_use_the_guides_variables() -> None:
    page = blocks(RUNBOOKS.read_text("utf-8"))
    assert page[0] == blocks(PAGE.read_text("utf-8"))[0]
    literal = [(body.splitlines()[0], path) for language, body in page[1:] if language == "sh"
               for path in VARIABLES.values() if re.search(rf"{re.escape(path)}\b", body)]
    assert literal == []


@pytest.mark.e2e
def test_every_runbook_block_runs_on_the_guides_server(guide: dict[str, Any]) -> None:
    page = blocks(RUNBOOKS.read_text("utf-8"))
    sh = [body for language, body in page[1:] if language == "sh"]
    ran = guide["runbooks"]
    assert [b["status"] for b in ran] == [0] * len(sh), _failed({"blocks": ran})


@pytest.mark.e2e
def test_the_runbooks_do_what_they_say(guide: dict[str, Any]) -> None:
    ran = {b["block"].splitlines()[0]: b for b in guide["runbooks"]}
    # quarantine review: the held executable is shown, then released to its recipient
    [shown] = [b for b in guide["runbooks"] if "quarantine show" in b["block"]]
    assert '"subject": "held"' in shown["stdout"]
    assert guide["released"]
    # the chain runbook: verify names the altered record
    [broken] = [b for b in guide["runbooks"] if "congvu-evidence" in b["block"]]
    assert "record" in broken["stdout"] + broken["stderr"]
    assert "intact" not in broken["stdout"].splitlines()[-1]
    # emergency bypass: mail from outside is delivered while congvu is stopped...
    assert guide["bypassed"]["port_25"][0] == 250
    assert guide["bypassed"]["delivered"]
    # ...and after the return congvu refuses a forged provincial sender again
    code, text = guide["returned"]
    assert code == 550 and "forged" in text, text
    # restore: the newest backup, its signature checked, the chain verified
    assert any("MANIFEST.sig: signed by sha256:" in b["stdout"] + b["stderr"]
               for b in ran.values())
    # and after every runbook the server still takes and delivers mail
    assert guide["after_runbooks"]["port_25"][0] == 250
    assert guide["after_runbooks"]["delivered"]


@pytest.mark.e2e
def test_an_upgrade_and_its_rollback_lose_no_record(guide: dict[str, Any],
                                                     previous_bundle: Path) -> None:
    """The previous release (a bundle built from an earlier commit, tests/deploy/
    conftest.py) takes mail, the runbook upgrades it to this tree's bundle, which migrates
    its stores and takes mail, and the runbook's rollback reinstalls the previous bundle:
    it reads and verifies the chain the current release extended, and every message
    was delivered and recorded."""
    upgrade = guide["upgrade"]
    assert upgrade["previous_install"]["status"] == 0, _failed(
        {"blocks": [upgrade["previous_install"]]})
    steps = [upgrade[step] for step in ("before", "upgraded", "rolled-back")]
    previous = previous_bundle.name.removeprefix("congvu-").removesuffix("-bundle.tar.gz")
    assert previous != VERSION
    assert [step["version"] for step in steps] == [previous, VERSION, previous]
    for step in steps:
        assert step["reply"][0] == 250, step["reply"]
        assert step["delivered"]
        assert step["records"] >= 1
    read = upgrade["read"]
    assert read["status"] == 0, read["stdout"] + read["stderr"]
    # the previous release's query lists the mail of all three steps, the current
    # release's among them
    for subject in ("upgrade-before", "upgrade-upgraded", "upgrade-rolled-back"):
        assert subject in read["stdout"], read["stdout"]
