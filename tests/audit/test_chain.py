"""audit/chain.py's checkpoints and key: the exported form, what is refused and why,
and the key file's life (the recipe itself is pinned in test_chain_vectors.py)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.chain import (
    KEY_FILE,
    Checkpoint,
    CheckpointSigner,
    Schedule,
    canonical,
    row_hash,
    tuple_hash,
)
from audit.errors import AuditError, KeyFileError
from audit.schema import HASHED_COLUMNS

HEAD = "ab" * 32


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return CheckpointSigner.load_or_create(tmp_path / "keys")


def test_canonical_json_is_sorted_compact_and_keeps_unicode() -> None:
    assert canonical({"b": 1, "a": [1, "ở"], "c": None}) == '{"a":[1,"ở"],"b":1,"c":null}'


def test_a_null_column_hashes_as_an_absent_one() -> None:
    row = dict.fromkeys(HASHED_COLUMNS)
    row.update(kind="admin", at="t", detail="{}", prev_hash="0" * 64)
    assert row_hash(row) == row_hash({k: v for k, v in row.items() if v is not None})
    # and an empty string is a value, not NULL
    assert row_hash({**row, "actor": ""}) != row_hash(row)


def test_the_schedule_is_signed_only_when_both_halves_are_known(
        signer: CheckpointSigner) -> None:
    scheduled = signer.sign(3, HEAD, "t", schedule=Schedule(10, 5.0), batch_from=2)
    assert scheduled.schedule == Schedule(10, 5.0)
    assert replace(scheduled, every_records=None).schedule is None
    assert replace(scheduled, every_seconds=None).schedule is None
    older = signer.sign(3, HEAD, "t")
    assert (older.every_records, older.every_seconds, older.batch_from) == (None, None, None)
    assert older.schedule is None and older.is_valid()


def test_the_exported_form_names_its_format_and_leaves_out_what_is_unknown(
        signer: CheckpointSigner) -> None:
    older = signer.sign(3, HEAD, "2026-12-01T00:00:00+00:00")
    assert json.loads(older.to_json()) == {
        "format": "congvu-audit-checkpoint/1", "seq": 3, "hash": HEAD,
        "at": "2026-12-01T00:00:00+00:00", "public_key": signer.public_key,
        "signature": older.signature}
    assert older.to_json().startswith('{\n  "format": "congvu-audit-checkpoint/1",\n')
    assert Checkpoint.from_json(older.to_json()) == older


def test_an_exported_checkpoint_is_read_with_its_numbers_typed(
        signer: CheckpointSigner) -> None:
    made = signer.sign(7, HEAD, "t", schedule=Schedule(1000, 60.0), batch_from=6)
    data = json.loads(made.to_json())
    data.update(seq="7", every_records="1000", every_seconds=60, batch_from="6")
    read = Checkpoint.from_json(json.dumps(data))
    assert read == made and read.is_valid()
    assert isinstance(read.every_seconds, float) and isinstance(read.batch_from, int)


@pytest.mark.parametrize(("text", "why"), [
    ("not json", "Expecting value"),
    ('"a string"', "'str' object has no attribute 'pop'"),
    ("[1, 2]", "'str' object cannot be interpreted as an integer"),
    ('{"seq": 1}', "'format'"),
    ('{"format": "congvu-audit-checkpoint/2", "seq": 1}', "unknown format"),
    ('{"format": "congvu-audit-checkpoint/1", "seq": "x", "hash": "h", "at": "t", '
     '"public_key": "k", "signature": "s"}', "invalid literal for int()"),
    ('{"format": "congvu-audit-checkpoint/1", "seq": 1, "hash": "h", "at": "t", '
     '"public_key": "k"}', "'signature'"),
    ('{"format": "congvu-audit-checkpoint/1", "seq": 1, "hash": "h", "at": "t", '
     '"public_key": "k", "signature": "s", "every_seconds": []}', "float() argument"),
])
def test_what_is_not_a_checkpoint_is_refused_with_the_reason(text: str, why: str) -> None:
    with pytest.raises(AuditError) as caught:
        Checkpoint.from_json(text, source="head.json")
    assert str(caught.value).startswith("head.json is not a congvu audit checkpoint: ")
    assert why in str(caught.value)


@pytest.mark.parametrize("change", [
    {"public_key": "zz"}, {"public_key": "00" * 31}, {"signature": "zz"},
    {"signature": "00" * 64}, {"public_key": "11" * 32},
])
def test_a_checkpoint_with_a_broken_key_or_signature_is_not_valid(
        signer: CheckpointSigner, change: dict[str, str]) -> None:
    made = signer.sign(1, HEAD, "t")
    assert made.is_valid()
    assert not replace(made, **change).is_valid()


def test_a_backup_manifest_is_signed_with_the_checkpoint_key(signer: CheckpointSigner) -> None:
    signature = signer.sign_bytes(b"manifest")
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(signer.public_key))
    key.verify(bytes.fromhex(signature), b"manifest")  # raises if it is not


def test_the_key_is_made_once_private_and_loaded_after(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = CheckpointSigner.load_or_create(keys)
    path = keys / KEY_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    assert keys.stat().st_mode & 0o777 == 0o700
    assert [p.name for p in keys.iterdir()] == [KEY_FILE]  # no temporary file left
    again = CheckpointSigner.load_or_create(keys)
    assert again.public_key == first.public_key
    assert len(bytes.fromhex(first.public_key)) == 32


def test_a_temporary_key_left_by_a_crash_is_replaced(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    (keys / f".{KEY_FILE}.{os.getpid()}.tmp").write_bytes(b"half a key")
    signer = CheckpointSigner.load_or_create(keys)
    assert [p.name for p in keys.iterdir()] == [KEY_FILE]
    assert CheckpointSigner.load_or_create(keys).public_key == signer.public_key


def test_a_key_of_another_kind_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (keys / KEY_FILE).write_bytes(rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (keys / KEY_FILE).chmod(0o600)
    with pytest.raises(KeyFileError, match="is not an Ed25519 key"):
        CheckpointSigner.load_or_create(keys)


def test_a_key_directory_that_cannot_be_made_is_a_key_file_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(KeyFileError, match="cannot be read or created"):
        CheckpointSigner.load_or_create(blocker / "keys")


def test_a_key_file_that_is_not_a_usable_pem_key_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    path = keys / KEY_FILE
    path.write_bytes(b"not a key")
    path.chmod(0o600)
    with pytest.raises(KeyFileError, match="is not a PEM private key"):  # ValueError
        CheckpointSigner.load_or_create(keys)
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"))
    path.write_bytes(encrypted)
    with pytest.raises(KeyFileError, match="is not a PEM private key"):  # TypeError
        CheckpointSigner.load_or_create(keys)


def test_what_a_checkpoint_signs_and_where_it_came_from_are_named(
        signer: CheckpointSigner) -> None:
    with pytest.raises(TypeError):
        signer.sign(1, HEAD, "t", Schedule(1, 1.0))  # type: ignore[misc]
    text = signer.sign(1, HEAD, "t").to_json()
    with pytest.raises(TypeError):
        Checkpoint.from_json(text, "head.json")  # type: ignore[misc]


def test_a_tuple_of_the_wrong_length_is_not_hashed() -> None:
    values = [None] * len(HASHED_COLUMNS)
    with pytest.raises(ValueError):
        tuple_hash(values[:-1])
    with pytest.raises(ValueError):
        tuple_hash([*values, "extra"])


def test_checkpoints_and_schedules_are_immutable_values(signer: CheckpointSigner) -> None:
    made = signer.sign(1, HEAD, "t", schedule=Schedule(1, 1.0))
    for value, name in ((made, "seq"), (Schedule(1, 1.0), "every_records")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, name, 2)
        assert not hasattr(value, "__dict__")  # slots, as declared


def test_a_key_directory_open_to_others_is_refused_not_fixed(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    first = CheckpointSigner.load_or_create(keys)
    assert first.public_key
    keys.chmod(0o777)
    with pytest.raises(KeyFileError):
        CheckpointSigner.load_or_create(keys)
    assert keys.stat().st_mode & 0o777 == 0o777  # left for the administrator to see
