"""Key files through mailbase.read_secret, from signer/'s side: DKIM and S/MIME keys
and passphrase files are refused when another user owns them, when their directory
is open to others, or when a symlink leads to a key others can read; a good symlink
is followed. These tests run as root, so a file can be given to nobody (uid 65534)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from signer.errors import KeyFileError
from signer.keys import Algorithm, generate_private_key, load_private_key, write_private_key
from signer.smime import SmimeIdentity, load_identity, load_pem_identity
from support.smime import BOB, cast

NOBODY = 65534


@pytest.fixture
def dkim_key(tmp_path: Path) -> Path:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    path = keys / "sel.pem"
    write_private_key(generate_private_key(Algorithm.ED25519_SHA256), path)
    return path


def test_a_dkim_key_another_user_owns_is_refused(dkim_key: Path) -> None:
    os.chown(dkim_key, NOBODY, -1)
    with pytest.raises(KeyFileError) as caught:
        load_private_key(dkim_key)
    assert str(caught.value) == (f"key file {dkim_key}: it is owned by nobody, not by root; "
                                 f"run chown root {dkim_key}, or run this command as "
                                 "nobody")


def test_a_dkim_key_in_a_directory_others_can_write_is_refused(dkim_key: Path) -> None:
    os.chmod(dkim_key.parent, 0o777)
    with pytest.raises(KeyFileError, match=r"is writable by group and others \(mode 0777\); "
                                           r"run chmod go-w"):
        load_private_key(dkim_key)


def test_a_dkim_key_reached_by_symlink_is_checked_at_its_target(dkim_key: Path,
                                                               tmp_path: Path) -> None:
    link = tmp_path / "current.pem"
    link.symlink_to(dkim_key)
    assert load_private_key(link, algorithm=Algorithm.ED25519_SHA256)
    os.chmod(dkim_key, 0o640)
    with pytest.raises(KeyFileError) as caught:
        load_private_key(link)
    assert caught.value.path == link
    assert f"the link's target {dkim_key} is readable by group" in caught.value.reason


def test_an_smime_key_in_a_shared_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    cert, key = cast().alice.write(shared, "alice")
    os.chmod(shared, 0o1777)
    with pytest.raises(KeyFileError) as caught:
        load_pem_identity(cert, key)
    assert caught.value.path == key and "run chmod go-w" in caught.value.reason


def test_a_passphrase_file_another_user_owns_is_refused(tmp_path: Path) -> None:
    p12 = cast().bob.write_pkcs12(tmp_path / "p12", "bob", b"s3cret")
    os.chmod(p12.parent, 0o700)
    os.chmod(p12, 0o600)
    passfile = tmp_path / "p12" / "bob.pass"
    passfile.write_bytes(b"s3cret\n")
    os.chmod(passfile, 0o600)
    identity = SmimeIdentity(address=BOB, pkcs12=p12,
                             passphrase_file=passfile)
    assert load_identity(identity).cert is not None
    os.chown(passfile, NOBODY, -1)
    with pytest.raises(KeyFileError) as caught:
        load_identity(identity)
    assert caught.value.path == passfile and "owned by nobody" in caught.value.reason
