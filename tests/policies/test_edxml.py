"""edXML packages (QCVN 102:2016) attached to mail: recognised by their root and
namespace, their header's document id, sending agency and number recorded."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from email.policy import SMTP

from audit import AuditLog, Filters
from policies import read_parts
from policies.edxml import MAX_HEADER_BYTES, NAMESPACE, EdXml, read_edxml

HEADER = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXMLEnvelope xmlns:edXML="{NAMESPACE}">
  <edXML:edXMLHeader>
    <edXML:MessageHeader>
      <edXML:From>
        <edXML:OrganId>000.00.00.H41</edXML:OrganId>
        <edXML:OrganName>UBND tỉnh Lào Cai</edXML:OrganName>
      </edXML:From>
      <edXML:To><edXML:OrganId>000.00.12.H41</edXML:OrganId></edXML:To>
      <edXML:DocumentId>000.00.00.H41,2026/12/07,123</edXML:DocumentId>
      <edXML:Code>
        <edXML:CodeNumber>123</edXML:CodeNumber>
        <edXML:CodeNotation>UBND-VP</edXML:CodeNotation>
      </edXML:Code>
      <edXML:Subject>Về việc báo cáo tình hình</edXML:Subject>
    </edXML:MessageHeader>
  </edXML:edXMLHeader>
  <edXML:edXMLBody>"""
BODY = """<edXML:Attachment><edXML:ContentId>cv.pdf</edXML:ContentId>
    <edXML:AttachmentText>{}</edXML:AttachmentText></edXML:Attachment>
  </edXML:edXMLBody>
</edXML:edXMLEnvelope>
"""
WANTED = EdXml(document_id="000.00.00.H41,2026/12/07,123", organ_id="000.00.00.H41",
               code_number="123", code_notation="UBND-VP")


def package(payload: bytes = b"%PDF-1.7 ...") -> bytes:
    return (HEADER + BODY.format(base64.b64encode(payload).decode())).encode()


def test_the_header_is_read() -> None:
    assert read_edxml(package()) == WANTED


def test_only_the_header_is_read_of_a_large_package() -> None:
    big = package(bytes(3 * MAX_HEADER_BYTES))
    assert read_edxml(big) == WANTED
    # cut short after its header: what was read stands
    assert read_edxml(package()[:len(HEADER) + 40]) == WANTED


def test_what_is_not_an_edxml_package_is_not_one() -> None:
    assert read_edxml(b"%PDF-1.7 edXMLEnvelope") is None
    assert read_edxml(package().replace(NAMESPACE.encode(), b"urn:other")) is None
    assert read_edxml(b"<root><edXMLEnvelope/></root>") is None
    # a DTD could expand entities: refused
    assert read_edxml(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'
                      + package()[39:]) is None
    # an envelope without a header still is a package
    assert read_edxml(f'<e:edXMLEnvelope xmlns:e="{NAMESPACE}"/>'.encode()) == EdXml()


def message(attachment: bytes, sender: str = "vanthu@binhthuan.gov.vn") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "ubnd@example.org", "Văn bản điện tử"
    msg.set_content("Gửi kèm gói tin edXML.")
    msg.add_attachment(attachment, maintype="application", subtype="xml",
                       filename="123-UBND-VP.edxml")
    return msg.as_bytes(policy=SMTP)


def test_the_parts_carry_it_for_the_record() -> None:
    [attachment] = read_parts(message(package())).attachments
    assert attachment.edxml == WANTED


def test_the_service_records_it(filter_server, next_hop) -> None:
    running = filter_server()
    client = running.client()
    client.mail("vanthu@binhthuan.gov.vn")
    client.rcpt("ubnd@example.org")
    code, _ = client.data(message(package()))
    assert code == 250
    next_hop.get()
    with AuditLog.open(running.server.config.audit) as log:
        [record] = [r for r in log.records(Filters()) if r["kind"] == "message"]
        assert log.verify().is_intact  # the new field is chained
    [attachment] = record["attachments"]
    assert attachment["edxml"] == {"document_id": "000.00.00.H41,2026/12/07,123",
                                   "organ_id": "000.00.00.H41", "code_number": "123",
                                   "code_notation": "UBND-VP"}
