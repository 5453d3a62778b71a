"""DKIM private keys: permissions, strength, formats, and the TXT records."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from signer.config import DkimConfig
from signer.dkim import DkimSigner
from signer.errors import KeyFileError
from signer.keys import (
    Algorithm,
    compare_record,
    generate_private_key,
    key_record,
    load_private_key,
    write_private_key,
    zone_file_entry,
)


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _pem(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
         fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o602])
def test_key_readable_or_writable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.pem"
    write_private_key(generate_private_key(Algorithm.ED25519_SHA256), path)
    path.chmod(mode)
    with pytest.raises(KeyFileError, match=f"mode {mode:04o}.*chmod 600") as caught:
        load_private_key(path)
    assert caught.value.path == path


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_owner_only_key_loads(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k.pem"
    write_private_key(generate_private_key(Algorithm.ED25519_SHA256), path)
    path.chmod(mode)
    assert isinstance(load_private_key(path), ed25519.Ed25519PrivateKey)


def test_written_key_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(generate_private_key(Algorithm.ED25519_SHA256), path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_private_key(generate_private_key(Algorithm.ED25519_SHA256), path)


def test_weak_rsa_key_is_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = _write(tmp_path / "weak.pem", _pem(weak, serialization.PrivateFormat.TraditionalOpenSSL))
    with pytest.raises(KeyFileError, match="1024 bits is too weak"):
        load_private_key(path)


def test_missing_key_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"missing\.pem: cannot be read: No such file "
                                           r"or directory$"):
        load_private_key(tmp_path / "missing.pem")


@pytest.mark.parametrize(("data", "reason"), [
    (b"garbage", "not a PEM private key"),
    (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a usable PEM"),
])
def test_broken_key_is_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(KeyFileError, match=reason):
        load_private_key(_write(tmp_path / "k.pem", data))


def test_encrypted_key_is_refused(tmp_path: Path) -> None:
    key = generate_private_key(Algorithm.ED25519_SHA256)
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"secret"))
    with pytest.raises(KeyFileError, match="encrypted"):
        load_private_key(_write(tmp_path / "k.pem", data))


def test_other_key_types_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "ec.pem", _pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(KeyFileError, match="not an RSA or Ed25519 key"):
        load_private_key(path)


def test_algorithm_mismatch_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    write_private_key(generate_private_key(Algorithm.ED25519_SHA256), path)
    with pytest.raises(KeyFileError, match="holds a ed25519 key, but the key table says rsa"):
        load_private_key(path, algorithm=Algorithm.RSA_SHA256)


def test_ed25519_base64_seed_as_dkimpy_writes_it(tmp_path: Path) -> None:
    # RFC 8463 appendix A.2's private key
    path = _write(tmp_path / "seed.key", b"nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n")
    key = load_private_key(path)
    assert key_record(key) == "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="


def test_pkcs1_rsa_pem_as_opendkim_genkey_writes_it(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = _write(tmp_path / "k.private", _pem(key, serialization.PrivateFormat.TraditionalOpenSSL))
    loaded = load_private_key(path)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048


def test_signer_from_config_fails_fast_naming_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.pem"
    write_private_key(generate_private_key(Algorithm.ED25519_SHA256), good)
    bad = _write(tmp_path / "open.pem", good.read_bytes(), 0o644)
    config = DkimConfig(keys=[
        {"domain": "a.gov.vn", "selector": "s1", "key_file": good, "algorithm": "ed25519-sha256"},
        {"domain": "a.gov.vn", "selector": "s2", "key_file": bad, "algorithm": "ed25519-sha256"},
    ])
    with pytest.raises(KeyFileError) as caught:
        DkimSigner.from_config(config)
    assert caught.value.path == bad


def test_key_not_signing_is_not_loaded(tmp_path: Path) -> None:
    config = DkimConfig(keys=[{"domain": "a.gov.vn", "selector": "old",
                               "key_file": tmp_path / "retired.pem", "is_signing": False}])
    assert DkimSigner.from_config(config).domains == frozenset()


def test_rsa_record_and_zone_file_split_into_255_octet_strings() -> None:
    key = generate_private_key(Algorithm.RSA_SHA256, bits=4096)
    record = key_record(key)
    assert record.startswith("v=DKIM1; k=rsa; p=MII")
    der = base64.b64decode(record.split("p=")[1])
    loaded = serialization.load_der_public_key(der)
    assert isinstance(loaded, rsa.RSAPublicKey) and loaded.key_size == 4096
    entry = zone_file_entry("s2026", "sotc.example.gov.vn", record)
    assert entry.startswith("s2026._domainkey.sotc.example.gov.vn. IN TXT (\n")
    strings = [line.strip().strip(")").strip().strip('"') for line in entry.splitlines()[1:]]
    assert all(len(s) <= 255 for s in strings) and len(strings) == len(record) // 255 + 1
    assert "".join(strings) == record


def test_short_record_is_one_string() -> None:
    key = generate_private_key(Algorithm.ED25519_SHA256)
    entry = zone_file_entry("ed", "a.gov.vn", key_record(key))
    assert entry == f'ed._domainkey.a.gov.vn. IN TXT "{key_record(key)}"'


@pytest.mark.parametrize("bits", [1024, 16384])
def test_generate_refuses_bad_rsa_sizes(bits: int) -> None:
    with pytest.raises(ValueError, match="2048-8192"):
        generate_private_key(Algorithm.RSA_SHA256, bits=bits)


def test_algorithm_names() -> None:
    assert Algorithm.from_name("rsa") is Algorithm.RSA_SHA256
    assert Algorithm.from_name("ED25519-SHA256") is Algorithm.ED25519_SHA256
    with pytest.raises(ValueError, match="unknown DKIM algorithm"):
        Algorithm.from_name("rsa-sha1")


def test_key_file_is_not_a_regular_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo", 0o600)
    with pytest.raises(KeyFileError, match="not a regular file"):
        load_private_key(tmp_path / "fifo")


def test_compare_record_says_exactly_what_differs() -> None:
    key = generate_private_key(Algorithm.ED25519_SHA256)
    good = key_record(key).encode()
    p = key_record(key).split("p=")[1]
    assert compare_record(key, [good]) == []
    assert compare_record(key, [good.replace(b"; p=", b";\tp=")]) == []  # WSP is not content
    assert compare_record(key, [b"v=spf1 -all", good]) == []              # other TXT ignored
    assert compare_record(key, []) == ["no TXT record is published"]
    assert compare_record(key, [good, good]) == \
        ["2 DKIM key records are published; verifiers need exactly one"]
    cases = {
        f"v=DKIM2; k=ed25519; p={p}": "v=DKIM2 (expected DKIM1)",
        f"v=DKIM1; p={p}": "k=rsa but the key is ed25519",
        "v=DKIM1; k=ed25519; p=": "p= is empty: the key is revoked",
        "v=DKIM1; k=ed25519": "no p= tag",
        f"v=DKIM1; k=ed25519; h=sha1; p={p}": "h=sha1 does not allow sha256",
        f"v=DKIM1; k=ed25519; s=other; p={p}": "s=other does not allow email",
        f"v=DKIM1; k=ed25519; t=y; p={p}": "t=y: the domain is testing DKIM",
        f"v=DKIM1; k=ed25519; junk; p={p}": "malformed tag 'junk'",
    }
    for record, problem in cases.items():
        found = compare_record(key, [record.encode()])
        assert len(found) == 1 and found[0].startswith(problem), (record, found)
