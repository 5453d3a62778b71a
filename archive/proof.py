"""Proof bundles: an archived message with what proves, to someone who holds none of
congvu's stores, that it is the message the audit log recorded.

A bundle is a directory (archive/README.md, Proof bundles, documents the format):

- ``<id>.eml``: the message as relayed;
- ``proof.json`` (``congvu-archive-proof/1``): the record in full (its chained
  columns), its completion in full when the checkpoint covers it, the other rows from
  ``link_from`` to the checkpoint as hashes only, and the checkpoint with its link;
- for checking by hand with ``sha256sum`` and ``openssl`` (README.txt says how):
  ``record.json`` (the canonical bytes the record's hash covers), ``hashes.txt`` (the
  span's row hashes, one a line), ``checkpoint.json`` (the bytes the link signature
  covers), ``checkpoint.sig`` (that Ed25519 signature, raw) and ``audit-key.pem``.

:func:`check_bundle` checks a bundle with nothing but its files: this module
recomputes the canonical JSON, the row hash, the link and the signature itself (it
imports nothing of audit/), so it is a second implementation of the recipe.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mailbase import write_private_durably

FORMAT = "congvu-archive-proof/1"
ZEROS = "0" * 64
_SIGNED = ("at", "hash", "seq", "every_records", "every_seconds", "batch_from")


def canonical(value: Any) -> bytes:
    """The chain's canonical JSON: sorted keys, compact, Unicode kept, UTF-8."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8", "surrogatepass")


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data`` in lower-case hex."""
    return hashlib.sha256(data).hexdigest()


def link_of(hashes: Iterable[str]) -> str:
    """``x = SHA-256(x + hash)`` over the hashes (hex text) from 64 zeros."""
    link = ZEROS
    for value in hashes:
        link = sha256_hex(f"{link}{value}".encode("ascii"))
    return link


def link_payload(checkpoint: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's link signature covers."""
    content = {k: checkpoint[k] for k in _SIGNED if checkpoint.get(k) is not None}
    return canonical({**content, "link": checkpoint["link"],
                      "link_from": checkpoint["link_from"]})


def fingerprint(public_key_hex: str) -> str:
    """``sha256:<hex>`` of the raw 32-byte public key, as `audit checkpoint export`
    prints it."""
    return "sha256:" + sha256_hex(bytes.fromhex(public_key_hex))


def archived_sha256(row: Mapping[str, Any]) -> str | None:
    """The SHA-256 a message record or a quarantine release names, if any."""
    try:
        detail = json.loads(row.get("detail") or "{}")
    except ValueError:
        return None
    value = detail.get("archived_sha256") if isinstance(detail, dict) else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class Bundle:
    """What a proof holds, as :meth:`Records.proof` gives it plus the message."""

    record_id: int
    message: bytes
    proof: dict[str, Any]


def write_bundle(out: Path, bundle: Bundle) -> list[Path]:
    """Write the bundle's files into ``out`` (made 0700 if absent; it must hold no file
    of a bundle already); return them. Each file is 0600, written durably."""
    written = []
    for file_name, data in bundle_files(bundle).items():
        path = out / file_name
        write_private_durably(path, data)
        written.append(path)
    return written


def bundle_files(bundle: Bundle) -> dict[str, bytes]:
    """The bundle's files by name: the message, proof.json, README.txt and the files
    README.txt checks by hand (what :func:`write_bundle` writes, and the console zips)."""
    proof = bundle.proof
    cp = proof["checkpoint"]
    name = f"{bundle.record_id}.eml"
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(cp["public_key"]))
    pem = key.public_bytes(serialization.Encoding.PEM,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    document = {"format": FORMAT, "record_id": bundle.record_id, "message": name,
                "archived_sha256": sha256_hex(bundle.message),
                "key": fingerprint(cp["public_key"]), **proof}
    files = {
        name: bundle.message,
        "proof.json": (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(),
        "record.json": canonical(proof["record"]),
        "hashes.txt": "".join(f"{h}\n" for h in proof["hashes"]).encode(),
        "checkpoint.json": link_payload(cp),
        "checkpoint.sig": bytes.fromhex(cp["link_signature"]),
        "audit-key.pem": pem,
        "README.txt": readme(bundle.record_id, proof).encode(),
    }
    if proof.get("completion"):
        files["completion.json"] = canonical(proof["completion"]["row"])
    return files


def readme(record_id: int, proof: Mapping[str, Any]) -> str:
    """How to check the bundle by hand (README.txt)."""
    cp = proof["checkpoint"]
    position = record_id - proof["link_from"]
    completion = proof.get("completion")
    lines = [
        f"Proof that {record_id}.eml is the message congvu's audit log recorded as event "
        f"{record_id}.",
        "",
        "Check it with `congvu archive check-proof DIR --key sha256:...`, or by hand:",
        "",
        "1. The message is the one the record names:",
        f"     sha256sum {record_id}.eml",
        "   equals archived_sha256 inside the \"detail\" of record.json.",
        "2. The record's hash is in the span the checkpoint signs, at its place:",
        "     sha256sum record.json",
        f"   equals line {position} of hashes.txt (record {record_id}; the span is records "
        f"{proof['link_from'] + 1}-{cp['seq']}, one hash a line; the other records "
        "are shown as their hashes only).",
    ]
    if completion:
        lines += [
            "   Its completion (what became of the message) is completion.json:",
            "     sha256sum completion.json",
            f"   equals line {completion['seq'] - proof['link_from']} of hashes.txt.",
        ]
    lines += [
        "3. The span folds to the signed link, and ends at the signed chain head:",
        f"     x={ZEROS}",
        "     while read h; do x=$(printf '%s%s' \"$x\" \"$h\" | sha256sum | cut -c1-64); "
        "done < hashes.txt; echo \"$x\"",
        "   prints the \"link\" of checkpoint.json, and the last line of hashes.txt is its "
        "\"hash\".",
        "4. The audit checkpoint key signed checkpoint.json:",
        "     openssl pkeyutl -verify -pubin -inkey audit-key.pem -rawin "
        "-in checkpoint.json -sigfile checkpoint.sig",
        "   prints \"Signature Verified Successfully\".",
        "5. The key is the province's audit key: its fingerprint",
        "     openssl pkey -pubin -in audit-key.pem -outform DER | tail -c 32 | sha256sum",
        f"   is {fingerprint(cp['public_key'])[7:]}; trust it only if it matches the "
        "fingerprint you obtained separately (`congvu audit checkpoint export` on the "
        "server, or the province's published one).",
        "",
        f"The checkpoint was signed at {cp['at']} (UTC).",
        "",
    ]
    return "\n".join(lines)


def check_bundle(directory: Path, *, key: str | None = None) -> tuple[list[str], str]:
    """Check a bundle with its files alone; return the problems (empty: it proves the
    message) and the fingerprint of the key that signed it.

    ``key`` (``sha256:<hex>``): the fingerprint the inspector obtained separately; a
    bundle signed by another key is a problem.
    """
    try:
        proof = json.loads((directory / "proof.json").read_bytes())
        if proof.get("format") != FORMAT:
            return [f"proof.json: not a {FORMAT} document"], ""
        problems, signer = _check(directory, proof)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        return [f"{directory}: not a readable proof bundle: {exc}"], ""
    if key is not None and signer and key.lower() != signer:
        problems.append(f"signed by key {signer}, not by the key given ({key})")
    return problems, signer


def _check(directory: Path, proof: dict[str, Any]) -> tuple[list[str], str]:
    problems: list[str] = []
    record_id, start = int(proof["record_id"]), int(proof["link_from"])
    record, cp = proof["record"], proof["checkpoint"]
    hashes = [str(h) for h in proof["hashes"]]
    end = int(cp["seq"])

    def hash_at(seq: int) -> str | None:
        return hashes[seq - start - 1] if start < seq <= end else None

    message = (directory / str(proof["message"])).read_bytes()
    named = archived_sha256(record)
    if sha256_hex(message) != named:
        problems.append(f"{proof['message']}: its SHA-256 {sha256_hex(message)} is not the "
                        f"one record {record_id} names ({named})")
    if proof.get("archived_sha256") != named:
        problems.append("proof.json: archived_sha256 is not the record's")
    record_hash = sha256_hex(canonical(record))
    if hash_at(record_id) != record_hash:
        problems.append(f"record {record_id}: its content hashes to {record_hash}, which is "
                        "not the span's hash at its place (the record was changed)")
    completion = proof.get("completion")
    if completion is not None:
        row, seq = completion["row"], int(completion["seq"])
        if row.get("kind") != "completion" or row.get("record_id") != record_id:
            problems.append(f"completion {seq}: it is not record {record_id}'s completion")
        if hash_at(seq) != sha256_hex(canonical(row)):
            problems.append(f"completion {seq}: its content is not the span's hash at "
                            "its place (it was changed)")
    if len(hashes) != end - start or int(cp["link_from"]) != start:
        problems.append(f"the span holds {len(hashes)} hashes, the checkpoint signs "
                        f"records {int(cp['link_from']) + 1}-{end}")
    if not hashes or hashes[-1] != cp["hash"]:
        problems.append("the span does not end at the checkpoint's chain head")
    if link_of(hashes) != cp["link"]:
        problems.append("the span's hashes do not fold to the checkpoint's link (a hash "
                        "was changed, removed or inserted)")
    try:
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(cp["public_key"]))
        public.verify(bytes.fromhex(cp["link_signature"]), link_payload(cp))
    except (InvalidSignature, ValueError):
        problems.append(f"the checkpoint at record {end}: its link signature is not valid "
                        "for its key")
    signer = fingerprint(cp["public_key"])
    problems.extend(_hand_files(directory, proof, signer))
    return problems, signer


def _hand_files(directory: Path, proof: dict[str, Any], signer: str) -> list[str]:
    """The files for checking by hand must say what proof.json says."""
    cp = proof["checkpoint"]
    expected = {
        "record.json": canonical(proof["record"]),
        "hashes.txt": "".join(f"{h}\n" for h in proof["hashes"]).encode(),
        "checkpoint.json": link_payload(cp),
        "checkpoint.sig": bytes.fromhex(cp["link_signature"]),
    }
    if proof.get("completion"):
        expected["completion.json"] = canonical(proof["completion"]["row"])
    problems = [f"{name}: differs from proof.json" for name, data in expected.items()
                if _read(directory / name) != data]
    pem = _read(directory / "audit-key.pem")
    try:
        loaded = serialization.load_pem_public_key(pem or b"")
        raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if not isinstance(loaded, Ed25519PublicKey) or fingerprint(raw.hex()) != signer:
            problems.append("audit-key.pem: is not the checkpoint's key")
    except ValueError:
        problems.append("audit-key.pem: is not a public key")
    return problems


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
