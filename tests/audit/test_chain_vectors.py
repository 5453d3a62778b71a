"""The audit chain's format, pinned by vectors kept as data (tests/data/chain-vectors).

The writer and the verifier share audit/chain.py, so a change to the recipe (the genesis
value, key sorting, ASCII escaping, the handling of lone surrogates, NULL columns, what a
checkpoint signs) would still pass every round-trip test while making every existing
store fail to verify. These vectors were made once by the code that wrote the stores in
service: any change to the recipe fails them. A deliberate change comes with a migration
and new vectors beside these, never in place of them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.chain import (
    GENESIS,
    KEY_FILE,
    Checkpoint,
    CheckpointSigner,
    Schedule,
    canonical,
    link_of,
    row_hash,
    tuple_hash,
)
from audit.config import AuditConfig
from audit.records import AdminEvent, AuditRecord, Completion
from audit.rows import admin_rows, completion_rows, message_rows
from audit.schema import HASHED_COLUMNS
from audit.store import AuditLog

VECTORS = Path(__file__).parents[1] / "data" / "chain-vectors"
EVENTS = json.loads((VECTORS / "events.json").read_text())
CHECKPOINTS = json.loads((VECTORS / "checkpoints.json").read_text())
MODELS: dict[str, Any] = {"record": (AuditRecord, message_rows),
                          "completion": (Completion, completion_rows),
                          "admin": (AdminEvent, admin_rows)}


def _ids(vectors: list[dict[str, Any]]) -> list[str]:
    return [v["about"].split(":")[0][:60] for v in vectors]


def _canonical_bytes(vector: dict[str, Any]) -> bytes:
    """The vector's canonical bytes, from its hex (what any implementation must hash)."""
    return bytes.fromhex(vector["canonical_hex"])


def _columns_tuple(columns: dict[str, Any]) -> tuple[Any, ...]:
    # a nullable column added after these vectors is NULL in them
    return tuple(columns.get(name) for name in HASHED_COLUMNS)


# -- the data is self-consistent: hashes are SHA-256 of the pinned bytes, chained -----------

def test_the_vectors_chain_from_the_genesis_value() -> None:
    assert EVENTS["genesis"] == GENESIS == "0" * 64
    previous = EVENTS["genesis"]
    for vector in EVENTS["events"]:
        assert vector["columns"]["prev_hash"] == previous
        previous = vector["hash"]
    for vector in EVENTS["events"] + EVENTS["rows"]:
        data = _canonical_bytes(vector)
        assert hashlib.sha256(data).hexdigest() == vector["hash"]
        assert data == vector["canonical"].encode("utf-8", "surrogatepass")


# -- today's code makes exactly those bytes and hashes ----------------------------------------

@pytest.mark.parametrize("vector", EVENTS["events"] + EVENTS["rows"],
                         ids=_ids(EVENTS["events"] + EVENTS["rows"]))
def test_each_event_hashes_as_pinned(vector: dict[str, Any]) -> None:
    columns = vector["columns"]
    present = {name: value for name, value in columns.items() if value is not None}
    # sorted keys, no whitespace, UTF-8 (non-ASCII not escaped), NULL columns left out
    assert canonical(present) == vector["canonical"]
    assert canonical(present).encode("utf-8", "surrogatepass") == _canonical_bytes(vector)
    assert row_hash(columns) == vector["hash"]
    assert tuple_hash(_columns_tuple(columns)) == vector["hash"]


def test_the_recipe_is_what_the_vectors_say() -> None:
    # spelled out, so that a failing vector says which rule changed
    [outbound, _, inbound, *_] = EVENTS["events"]
    text = _canonical_bytes(outbound)
    assert text.startswith(b'{"action":"accept","at":')  # sorted keys, no spaces
    assert None not in json.loads(text).values()  # a NULL column is left out, not null
    assert b'"subject"' not in text
    inbound_text = _canonical_bytes(inbound)
    assert "Công văn".encode() in inbound_text  # UTF-8, not \u escapes
    assert b"\\u" not in inbound_text
    # an undecodable envelope byte reaches the chain as the text \xff (audit/records.py)
    assert inbound["columns"]["envelope_sender"] == "ng\\xffuoi@example.org"
    # an archived message's SHA-256 is chained in its detail; a record without it (the
    # first) has the detail, hence the hash, records had before the archive
    archived = EVENTS["events"][5]
    assert json.loads(archived["columns"]["detail"])["archived_sha256"] == (
        archived["input"]["archived_sha256"])
    assert "archived_sha256" not in outbound["columns"]["detail"]
    [surrogates] = EVENTS["rows"]
    assert "\udcff" in surrogates["columns"]["envelope_sender"]
    assert b"a\xed\xb3\xbfb@example.org" in _canonical_bytes(surrogates)  # surrogatepass


@pytest.mark.parametrize("vector", EVENTS["events"], ids=_ids(EVENTS["events"]))
def test_the_edge_models_make_the_pinned_rows(vector: dict[str, Any]) -> None:
    model, rows = MODELS[vector["item"]]
    event = dict.fromkeys(HASHED_COLUMNS)
    event.update(rows(model.model_validate(vector["input"])).event)
    event["prev_hash"] = vector["columns"]["prev_hash"]
    assert event == {name: vector["columns"].get(name) for name in HASHED_COLUMNS}


@pytest.fixture
def vector_key_dir(tmp_path: Path) -> Path:
    """A key directory holding the vectors' fixed test key (0600, as the store requires)."""
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    shutil.copyfile(VECTORS / CHECKPOINTS["key_file"], keys / KEY_FILE)
    (keys / KEY_FILE).chmod(0o600)
    return keys


def test_a_new_store_writes_the_pinned_chain(tmp_path: Path, vector_key_dir: Path) -> None:
    config = AuditConfig(path=tmp_path / "audit.sqlite3", keys_dir=vector_key_dir)
    items = [MODELS[v["item"]][0].model_validate(v["input"]) for v in EVENTS["events"]]
    with AuditLog.open(config) as log:
        assert log.write(items) == list(range(1, len(items) + 1))
        report = log.verify()
        assert report.is_intact, report.describe()
        checkpoint = log.latest_checkpoint()
    conn = sqlite3.connect(config.path)
    conn.row_factory = sqlite3.Row
    try:
        stored = [dict(row) for row in conn.execute("SELECT * FROM events ORDER BY seq")]
    finally:
        conn.close()
    assert [row["hash"] for row in stored] == [v["hash"] for v in EVENTS["events"]]
    for row, vector in zip(stored, EVENTS["events"], strict=True):
        assert {name: row[name] for name in HASHED_COLUMNS} == {
            name: vector["columns"].get(name) for name in HASHED_COLUMNS}
    # the store signs its head with the key it was given
    assert checkpoint is not None
    assert checkpoint.public_key == CHECKPOINTS["public_key"]
    assert (checkpoint.seq, checkpoint.hash) == (len(items), EVENTS["events"][-1]["hash"])


# -- checkpoints: the signed bytes and the signature -----------------------------------------

def _test_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(
        (VECTORS / CHECKPOINTS["key_file"]).read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


@pytest.mark.parametrize("vector", CHECKPOINTS["checkpoints"], ids=_ids(CHECKPOINTS["checkpoints"]))
def test_a_checkpoint_signs_the_pinned_bytes(vector: dict[str, Any]) -> None:
    pinned = vector["checkpoint"]
    signer = CheckpointSigner(_test_key())
    assert signer.public_key == CHECKPOINTS["public_key"] == pinned["public_key"]
    schedule = (Schedule(pinned["every_records"], pinned["every_seconds"])
                if "every_records" in pinned else None)
    made = signer.sign(pinned["seq"], pinned["hash"], pinned["at"], schedule=schedule,
                       batch_from=pinned.get("batch_from"))
    assert made.payload() == vector["payload"].encode()
    assert made.signature == pinned["signature"]  # Ed25519 signatures are deterministic
    assert json.loads(made.to_json()) == pinned
    read = Checkpoint.from_json(json.dumps(pinned))
    assert read == made and read.is_valid()
    # the signature covers the pinned bytes, checked without congvu's code
    signer_key = _test_key().public_key()
    signer_key.verify(bytes.fromhex(pinned["signature"]), vector["payload"].encode())


def test_a_checkpoint_signs_the_pinned_link() -> None:
    vector = CHECKPOINTS["linked"]
    pinned = vector["checkpoint"]
    hashes = [e["hash"] for e in EVENTS["events"][pinned["link_from"]:pinned["seq"]]]
    # the link by its recipe, without congvu's code: x = SHA-256(x + hash) from 64 zeros
    link = "0" * 64
    for value in hashes:
        link = hashlib.sha256(f"{link}{value}".encode("ascii")).hexdigest()
    assert link_of(hashes) == link == pinned["link"]
    made = CheckpointSigner(_test_key()).sign(
        pinned["seq"], pinned["hash"], pinned["at"],
        schedule=Schedule(pinned["every_records"], pinned["every_seconds"]),
        batch_from=pinned["batch_from"], link=(pinned["link_from"], pinned["link"]))
    assert made.payload() == vector["payload"].encode()
    assert made.link_payload() == vector["link_payload"].encode()
    assert (made.signature, made.link_signature) == (pinned["signature"],
                                                     pinned["link_signature"])
    assert json.loads(made.to_json()) == pinned
    read = Checkpoint.from_json(json.dumps(pinned))
    assert read == made and read.is_valid()
    _test_key().public_key().verify(bytes.fromhex(pinned["link_signature"]),
                                    vector["link_payload"].encode())
    # the link and where it starts are signed; the link signature cannot be dropped alone
    assert not replace(read, link="f" * 64).is_valid()
    assert not replace(read, link_from=1).is_valid()
    assert not replace(read, link_signature=None).is_valid()


@pytest.mark.parametrize("field", ["seq", "hash", "at", "every_records", "every_seconds",
                                   "batch_from"])
def test_every_field_of_a_checkpoint_is_signed(field: str) -> None:
    [scheduled, _] = CHECKPOINTS["checkpoints"]
    checkpoint = Checkpoint.from_json(json.dumps(scheduled["checkpoint"]))
    changed: dict[str, Any] = {
        "seq": checkpoint.seq + 1, "hash": "f" * 64, "at": "2026-12-01T03:00:00.000002+00:00",
        "every_records": 1001, "every_seconds": 61.0, "batch_from": 4}
    assert not replace(checkpoint, **{field: changed[field]}).is_valid()
    if field in ("every_records", "every_seconds", "batch_from"):
        # nor may one be dropped: signed, it does not verify in an older checkpoint's shape
        assert not replace(checkpoint, **{field: None}).is_valid()
