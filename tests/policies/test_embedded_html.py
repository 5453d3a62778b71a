"""HTML attachments that build a file in the browser: data: URIs become members judged
by every rule, and script that saves a large blob is the html-smuggling violation."""

from __future__ import annotations

import base64

from policies import Action, Decision, PoliciesConfig, decide
from policies.smuggling import PAYLOAD_CHARS, smuggling_signs

from .conftest import corpus_module as cm

_POLICY = PoliciesConfig().resolve(["u"], "inbound")


def _decide(html: bytes, name: str = "invoice.html", ctype: str = "text/html") -> Decision:
    return decide(cm.message(cm.attachment(html, name, ctype)), _POLICY)


def _rules(decision: Decision) -> set[str]:
    return {v.rule for v in decision.violations}


def test_a_program_in_a_download_link_is_blocked_as_if_attached() -> None:
    uri = b"data:application/octet-stream;base64," + base64.b64encode(cm.EXE)
    html = b'<html><body><a download="scan.exe" href="' + uri + b'">Open</a></body></html>'
    decision = _decide(html)
    assert decision.action is Action.REJECT
    assert ("blocked-type", "invoice.html/data-uri-1") in {
        (v.rule, v.member) for v in decision.violations}
    assert "html-smuggling" in _rules(decision)


def test_script_assembling_a_blob_is_html_smuggling() -> None:
    chunks = base64.b64encode(b"\x00PK-like payload " * 400)
    parts = "+".join(f'"{chunks[i:i + 76].decode()}"' for i in range(0, len(chunks), 76))
    html = (f"<!doctype html><script>var b = atob({parts});"
            "var u = URL.createObjectURL(new Blob([b]));"
            "var a = document.createElement('a'); a.href = u; a.download = 'x.iso';"
            "a.click();</script>").encode()
    decision = _decide(html, "tai-lieu.htm", "application/octet-stream")
    assert decision.action is Action.QUARANTINE
    reason = next(v.reason for v in decision.violations if v.rule == "html-smuggling")
    assert "base64" in reason


def test_a_page_with_large_inline_images_is_not_smuggling() -> None:
    image = base64.b64encode(cm.PNG * 2000).decode()
    html = (f'<html><body><img src="data:image/png;base64,{image}">'
            '<a href="https://example.vn/a.pdf" download>Tải về</a></body></html>').encode()
    decision = _decide(html)
    assert "html-smuggling" not in _rules(decision)
    assert not [a for a in decision.attachments if a.member]


def test_script_without_a_payload_is_not_smuggling() -> None:
    html = b"<html><script>var u = URL.createObjectURL(new Blob(['hello']));</script></html>"
    assert smuggling_signs(html) is None
    assert "html-smuggling" not in _rules(_decide(html))


def test_a_payload_without_script_is_not_smuggling() -> None:
    html = b"<html><pre>" + b"A" * (2 * PAYLOAD_CHARS) + b"</pre></html>"
    assert smuggling_signs(html) is None


def test_an_html_body_is_not_judged_as_an_attachment() -> None:
    uri = b"data:application/octet-stream;base64," + base64.b64encode(cm.EXE)
    body = cm.part(b'<html><a download href="' + uri + b'">x</a></html>',
                   "Content-Type: text/html; charset=utf-8")
    decision = decide(cm.message(body), _POLICY)
    assert "html-smuggling" not in _rules(decision)


def test_a_hostile_html_of_open_tags_is_decided() -> None:
    # many unclosed <a tags and a broken data: URI: linear scans, a defined decision
    html = b"<html>" + b"<a download " * 200_000 + b"data:application/x-msdownload;base64,%%%"
    decision = _decide(html)
    assert decision.action is Action.QUARANTINE
    assert "html-smuggling" in _rules(decision)


def _saved_by_pieces(payload: str) -> bytes:
    # the saving call spelt out of pieces: no literal createObjectURL or download= left
    return ("<html><script>var w = window, k = 'create' + 'Object' + 'URL';"
            f"var d = {payload};"
            "var l = w['docu' + 'ment']['createElement']('a');"
            "l['href'] = w['U' + 'RL'][k](new w['Bl' + 'ob']([d]));"
            "l['dow' + 'nload'] = 'hoa-don.iso'; l['cli' + 'ck']();</script></html>").encode()


def test_base64_cut_into_short_literals_is_a_payload() -> None:
    encoded = base64.b64encode(cm.EXE * 80).decode()
    pieces = " + ".join(f"'{encoded[i:i + 24]}'" for i in range(0, len(encoded), 24))
    signs = smuggling_signs(_saved_by_pieces(f"atob({pieces})"))
    assert signs is not None and "base64" in signs
    assert "html-smuggling" in _rules(_decide(_saved_by_pieces(f"atob({pieces})")))


def test_an_array_of_short_literals_joined_is_a_payload() -> None:
    encoded = base64.b64encode(cm.EXE * 80).decode()
    pieces = ", ".join(f'"{encoded[i:i + 16]}"' for i in range(0, len(encoded), 16))
    assert smuggling_signs(_saved_by_pieces(f'atob([{pieces}].join(""))')) is not None


def test_bytes_spelt_as_numbers_are_a_payload() -> None:
    numbers = ",".join(str(b) for b in cm.EXE * 60)  # 4,080 bytes: 5,440 base64 characters
    signs = smuggling_signs(_saved_by_pieces(f"new Uint8Array([{numbers}])"))
    assert signs is not None and "bytes spelt as numbers or escapes" in signs


def test_bytes_spelt_as_escapes_are_a_payload() -> None:
    escaped = "".join(f"%{b:02x}" for b in cm.EXE * 60)
    assert smuggling_signs(_saved_by_pieces(f"unescape('{escaped}')")) is not None
    hexed = "".join(f"\\x{b:02x}" for b in cm.EXE * 60)
    assert smuggling_signs(_saved_by_pieces(f"'{hexed}'.split('').map(c => c.charCodeAt(0))"
                                            ".map(String.fromCharCode)")) is not None


def test_a_data_uri_spelt_in_pieces_is_read_whole() -> None:
    encoded = base64.b64encode(cm.EXE).decode()
    html = (f"<html><script>location.href = 'da' + 'ta:application/x-msdownload;base64,' + "
            f"'{encoded[:40]}' + '{encoded[40:]}';</script></html>").encode()
    decision = _decide(html)
    assert decision.action is Action.REJECT
    assert ("blocked-type", "invoice.html/data-uri-1") in {
        (v.rule, v.member) for v in decision.violations}


def test_a_table_of_numbers_without_script_is_not_smuggling() -> None:
    cells = ", ".join(str(n % 1000) for n in range(6000))
    html = f"<html><body><table><tr><td>{cells}</td></tr></table></body></html>".encode()
    assert smuggling_signs(html) is None


def test_runs_of_fewer_than_sixteen_numbers_are_no_payload() -> None:
    # fifteen numbers then a break, over and over (1 MB, in one linear pass): no run is
    # long enough to count, however many there are
    html = b"<script>atob(x)</script>" + b"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15;" * 30_000
    assert smuggling_signs(html) is None
