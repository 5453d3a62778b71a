"""The public directory: tree, diacritic-insensitive search, unit pages, vCard,
certificate, and the JSON API with its OpenAPI description."""

from __future__ import annotations

import pytest
import vobject

from support.webconsole import DOMAIN, client
from web.actions import edit_unit


@pytest.mark.parametrize("query", ["Sở Tài chính", "so tai chinh", "SO TAI CHINH", "tài",
                                   "stc.laocai", "Department of Finance"])
def test_search_finds_with_and_without_diacritics(env, query):
    page = client(env.settings).get("/", params={"q": query}).text
    assert 'href="/units/stc"' in page
    assert 'href="/units/sgd"' not in page


def test_search_for_d_with_stroke(env):
    c = client(env.settings)
    for query in ("Đào tạo", "dao tao", "SGDĐT", "sgddt"):
        assert 'href="/units/sgd"' in c.get("/", params={"q": query}).text, query


@pytest.mark.parametrize("query", ["ai", "so ai", "tai giao", "ngan tinh"])
def test_search_needs_every_word_to_begin_a_word_of_the_unit(env, query):
    c = client(env.settings)
    assert 'id="results-empty"' in c.get("/", params={"q": query}).text
    assert c.get("/api/units", params={"q": query}).json() == []


def test_search_words_in_any_order(env):
    c = client(env.settings)
    assert [u["id"] for u in c.get("/api/units", params={"q": "chinh SỞ"}).json()] == ["stc"]


def test_search_without_match(env):
    page = client(env.settings).get("/", params={"q": "không có đơn vị này"}).text
    assert 'id="results-empty"' in page


def test_tree_nests_units_under_their_parents(env):
    page = client(env.settings).get("/").text
    tree = page[page.index('id="tree"'):]
    assert tree.index("/units/ubnd") < tree.index("/units/stc") < tree.index("/units/stc-a")


def test_unit_page_lists_addresses_and_parents(env):
    page = client(env.settings).get("/units/stc-a").text
    assert f"ngansach@stc.{DOMAIN}" in page
    assert 'href="/units/stc"' in page and 'href="/units/ubnd"' in page
    assert client(env.settings).get("/units/nope").status_code == 404


def test_vcard_download(env):
    r = client(env.settings).get("/units/stc/vcard")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vcard")
    assert 'filename="stc.vcf"' in r.headers["content-disposition"]
    card = vobject.readOne(r.text)
    assert card.fn.value == "Sở Tài chính"
    assert card.email.value == f"vanthu@stc.{DOMAIN}"


def test_certificate_download(env, tmp_path):
    from cryptography import x509
    assert client(env.settings).get("/units/stc/certificate").status_code == 404
    pem = _certificate(tmp_path)
    edit_unit(env.settings, "stc", {"certificate": pem}, actor="test")
    r = client(env.settings).get("/units/stc/certificate")
    assert r.status_code == 200
    assert x509.load_pem_x509_certificate(r.content).subject


def _certificate(tmp_path) -> str:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Sở Tài chính")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.RFC822Name(f"vanthu@stc.{DOMAIN}")]), critical=False)
            .sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding
    return cert.public_bytes(Encoding.PEM).decode()


def test_json_api(env):
    c = client(env.settings)
    units = c.get("/api/units").json()
    assert {u["id"] for u in units} == {"ubnd", "stc", "stc-a", "sgd"}
    assert [u["id"] for u in c.get("/api/units", params={"q": "giao duc"}).json()] == ["sgd"]
    one = c.get("/api/units/stc").json()
    assert one["address"] == f"vanthu@stc.{DOMAIN}" and one["parent"] == "ubnd"
    assert c.get("/api/units/nope").status_code == 404
    assert c.get("/api/units/nope").json() == {"detail": "no unit nope"}


def test_openapi_describes_the_public_api(env):
    spec = client(env.settings).get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/units", "/api/units/{unit_id}", "/units/{unit_id}/vcard",
            "/units/{unit_id}/certificate"} <= set(spec["paths"])
    assert not any(p.startswith(("/admin", "/login")) for p in spec["paths"])
    assert "UnitOut" in spec["components"]["schemas"]


def test_without_a_directory_store_the_page_is_empty(tmp_path):
    from congvu.config import parse_config, web_settings
    settings = web_settings(parse_config({"service": {"data_dir": str(tmp_path)}}))
    c = client(settings)
    assert c.get("/").status_code == 200
    assert c.get("/api/units").json() == []
