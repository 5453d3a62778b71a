"""Relaying through the filter: exact bytes, exact envelope, earned 250s."""

from __future__ import annotations

import smtplib
import threading

import pytest

from milter.replies import R250_QUEUED, R451_NEXT_HOP, R452_TOO_MANY_RECIPIENTS

# Outbound, the header From must be the envelope sender (or its unit's): tests send as
# SENDER, the From of MESSAGE.
SENDER = "sotc@binhthuan.gov.vn"
MESSAGE = (
    b"From: =?utf-8?q?S=E1=BB=9F_T=C3=A0i_ch=C3=ADnh?= <sotc@binhthuan.gov.vn>\r\n"
    b"To: vanphong@binhthuan.gov.vn\r\n"
    b"Subject: =?utf-8?b?Q8O0bmcgdsSDbg==?=\r\n"
    b"Message-ID: <1@binhthuan.gov.vn>\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b"..two dots\r\n"
    b"trailing space \r\n"
    b"\r\n"
    b"last line without anything after it"
)


def test_message_arrives_byte_identical(filter_server, next_hop) -> None:
    client = filter_server().client()
    client.sendmail("sotc@binhthuan.gov.vn", ["a@binhthuan.gov.vn", "b@example.org"],
                    MESSAGE, mail_options=["BODY=8BITMIME"])
    received = next_hop.get()
    # smtplib adds the final CRLF a message must end with; nothing else changes.
    assert received.content == MESSAGE + b"\r\n"
    assert received.mail_from == "sotc@binhthuan.gov.vn"
    assert received.recipients == ["a@binhthuan.gov.vn", "b@example.org"]
    assert "BODY=8BITMIME" in received.mail_options


def test_reply_is_250_with_the_next_hops_answer(filter_server) -> None:
    client = filter_server().client()
    client.mail(SENDER)
    client.rcpt("c@d.vn")
    code, text = client.data(MESSAGE)
    assert code == R250_QUEUED.code
    assert text.decode().startswith(
        f"{R250_QUEUED.enhanced} Thu da duoc nhan va chuyen di / Message accepted and relayed (250")
    assert b"queued as SINK" in text


def test_size_and_smtputf8_parameters_reach_the_next_hop(filter_server, next_hop) -> None:
    client = filter_server().client()
    utf8 = "From: thư@binhthuan.gov.vn\r\nSubject: Công văn số 1\r\n\r\nnội dung\r\n".encode()
    client.sendmail("thư@binhthuan.gov.vn", ["nhận@binhthuan.gov.vn"], utf8,
                    mail_options=["SMTPUTF8", f"SIZE={len(utf8)}"])
    received = next_hop.get()
    assert received.content == utf8
    assert received.mail_from == "thư@binhthuan.gov.vn"
    assert received.recipients == ["nhận@binhthuan.gov.vn"]
    assert "SMTPUTF8" in received.mail_options
    assert f"SIZE={len(utf8)}" in received.mail_options


def test_eight_bit_without_8bitmime_is_relayed_unchanged(filter_server, next_hop) -> None:
    # RFC 6152 leaves it to the server; like Postfix we accept and change nothing.
    client = filter_server().client()
    raw = "From: a@b.vn\r\nSubject: x\r\n\r\nđồng\r\n".encode()
    client.sendmail("a@b.vn", ["c@d.vn"], raw)
    assert next_hop.get().content == raw


def test_header_stage_prepends_without_touching_the_rest(filter_server, next_hop) -> None:
    running = filter_server(pipeline={"add_headers": [{"name": "X-Filtered-By", "value": "node1"}]})
    running.client().sendmail(SENDER, ["c@d.vn"], MESSAGE)
    assert next_hop.get().content == b"X-Filtered-By: node1\r\n" + MESSAGE + b"\r\n"


def test_several_messages_on_one_connection(filter_server, next_hop) -> None:
    client = filter_server().client()
    for number in range(5):
        client.sendmail("a@b.vn", [f"r{number}@d.vn"],
                        b"From: a@b.vn\r\nSubject: %d\r\n\r\nx\r\n" % number)
    got = sorted(next_hop.get().recipients[0] for _ in range(5))
    assert got == [f"r{number}@d.vn" for number in range(5)]


def test_next_hop_down_gives_451_then_retry_delivers(filter_server, next_hop) -> None:
    running = filter_server()
    next_hop.stop()
    client = running.client()
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        client.sendmail(SENDER, ["c@d.vn"], MESSAGE)
    assert refused.value.smtp_code == R451_NEXT_HOP.code
    assert refused.value.smtp_error.startswith(R451_NEXT_HOP.enhanced.encode())
    client.rset()
    next_hop.start()  # same port: Postfix's retry now succeeds
    client.sendmail(SENDER, ["c@d.vn"], MESSAGE)
    assert next_hop.get().content == MESSAGE + b"\r\n"


def test_next_hop_dropping_pooled_connections_is_transparent(filter_server, next_hop) -> None:
    running = filter_server()
    running.client().sendmail(SENDER, ["c@d.vn"], MESSAGE)
    next_hop.get()
    next_hop.stop()  # kills the pooled connection too
    next_hop.start()
    running.client().sendmail(SENDER, ["c@d.vn"], MESSAGE)
    assert next_hop.get().recipients == ["c@d.vn"]


def test_next_hop_5xx_at_data_is_passed_back(filter_server, next_hop) -> None:
    next_hop.queue_reply("DATA", "554 5.7.1 Refused by the next hop")
    client = filter_server().client()
    client.mail(SENDER)
    client.rcpt("c@d.vn")
    assert client.data(MESSAGE) == (554, b"5.7.1 Refused by the next hop")
    next_hop.assert_empty()


def test_next_hop_4xx_at_data_becomes_451(filter_server, next_hop) -> None:
    next_hop.queue_reply("DATA", "452 4.3.1 Insufficient system storage")
    client = filter_server().client()
    client.mail(SENDER)
    client.rcpt("c@d.vn")
    code, text = client.data(MESSAGE)
    assert code == 451
    assert b"Insufficient system storage" in text
    next_hop.assert_empty()


def test_refused_recipient_is_mirrored_at_rcpt(filter_server, next_hop) -> None:
    next_hop.queue_reply("RCPT:nobody@d.vn", "550 5.1.1 No such user")
    next_hop.queue_reply("RCPT:later@d.vn", "450 4.2.0 Mailbox busy")
    client = filter_server().client()
    client.mail(SENDER)
    assert client.rcpt("ok@d.vn")[0] == 250
    assert client.rcpt("nobody@d.vn") == (550, b"5.1.1 No such user")
    assert client.rcpt("later@d.vn") == (450, b"4.2.0 Mailbox busy")
    assert client.data(MESSAGE)[0] == 250
    assert next_hop.get().recipients == ["ok@d.vn"]


def test_next_hop_refusing_sender_is_mirrored(filter_server, next_hop) -> None:
    next_hop.queue_reply("MAIL", "553 5.1.8 Sender domain does not exist")
    client = filter_server().client()
    assert client.mail("a@nowhere.invalid") == (553, b"5.1.8 Sender domain does not exist")


def test_hanging_next_hop_gives_451_and_the_filter_keeps_serving(
    filter_server, filter_config, next_hop
) -> None:
    running = filter_server(next_hop={"data_timeout": 0.5})
    release = threading.Event()
    next_hop.behaviour.hang_data = release
    client = running.client()
    client.mail(SENDER)
    client.rcpt("c@d.vn")
    code, text = client.data(MESSAGE)
    release.set()
    next_hop.behaviour.hang_data = None
    assert code == 451
    assert b"timed out" in text
    running.client().sendmail(SENDER, ["c@d.vn"], MESSAGE)
    assert next_hop.get().recipients == ["c@d.vn"]


def test_rset_abandons_the_next_hop_transaction(filter_server, next_hop) -> None:
    client = filter_server().client()
    client.mail(SENDER)
    client.rcpt("first@d.vn")
    client.rset()
    client.sendmail(SENDER, ["second@d.vn"], MESSAGE)
    assert next_hop.get().recipients == ["second@d.vn"]
    next_hop.assert_empty()


def test_too_many_recipients(filter_server, next_hop) -> None:
    client = filter_server(limits={"max_recipients": 2}).client()
    client.mail(SENDER)
    client.rcpt("1@d.vn")
    client.rcpt("2@d.vn")
    code, text = client.rcpt("3@d.vn")
    assert (code, text.decode()) == (
        R452_TOO_MANY_RECIPIENTS.code,
        f"{R452_TOO_MANY_RECIPIENTS.enhanced} {R452_TOO_MANY_RECIPIENTS.text}",
    )
    assert client.data(MESSAGE)[0] == 250
    assert next_hop.get().recipients == ["1@d.vn", "2@d.vn"]


def test_bounce_with_null_sender_is_relayed(filter_server, next_hop) -> None:
    # Postfix sends delivery status notifications through the filter too.
    client = filter_server().client()
    client.sendmail("<>", ["sotc@binhthuan.gov.vn"], MESSAGE)
    received = next_hop.get()
    assert received.mail_from == "<>"  # aiosmtpd's spelling of the null reverse-path
    assert received.content == MESSAGE + b"\r\n"


def test_addresses_the_fast_path_does_not_take(filter_server, next_hop) -> None:
    # envelope parsing only: the quoted local part would make the header From ambiguous
    client = filter_server(pipeline={"stages": []}).client()
    client.sendmail('"odd local"@b.vn', ["a..b@d.vn", "x@[192.0.2.1]"], MESSAGE)
    received = next_hop.get()
    assert received.recipients == ["a..b@d.vn", "x@[192.0.2.1]"]


def test_pass_through_pipeline_without_audit(filter_server, next_hop) -> None:
    running = filter_server(pipeline={"stages": [], "audit": False})
    assert running.server.runtime.pipeline.names == []
    raw = b"no header at all, which the policy would hold\r\n"
    running.client().sendmail("a@b.vn", ["c@d.vn"], raw)
    assert next_hop.get().content == raw
    assert not running.server.config.audit.path.exists()
