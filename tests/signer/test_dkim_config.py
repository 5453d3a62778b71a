"""The [signer.dkim] table: defaults and validation at load."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from signer.config import DkimConfig, SignerConfig


def test_defaults() -> None:
    config = SignerConfig().dkim
    assert config.keys == ()
    assert config.on_unsignable == "refuse"
    assert config.refuse_repeated_headers is False
    assert config.max_signatures == 5
    assert config.resolver_nameserver is None and config.resolver_port == 53
    assert config.state_file == Path("dkim/rotation.json")  # resolved by milter under var/


def test_key_table_entry() -> None:
    config = DkimConfig(keys=[{"domain": "sotc.example.gov.vn", "selector": "s2026",
                               "key_file": "keys/s2026.pem", "algorithm": "ed25519-sha256"}])
    (entry,) = config.keys
    assert entry.key_file == Path("keys/s2026.pem") and entry.is_signing


@pytest.mark.parametrize(("data", "where"), [
    ({"keys": [{"domain": "a b.vn", "selector": "s", "key_file": "k"}]}, "domain"),
    ({"keys": [{"domain": "a.vn", "selector": "s;x", "key_file": "k"}]}, "selector"),
    ({"keys": [{"domain": "a.vn", "selector": "s", "key_file": "k", "algorithm": "rsa-sha1"}]},
     "algorithm"),
    ({"keys": [{"domain": "a.vn", "selector": "s", "key_file": "k"},
               {"domain": "A.vn", "selector": "S", "key_file": "k2"}]}, "appears twice"),
    ({"on_unsignable": "drop"}, "on_unsignable"),
    ({"max_signatures": 0}, "max_signatures"),
    ({"resolver_timeout": 0}, "resolver_timeout"),
    ({"expire_after": 60}, "expire_after"),
    ({"authserv_id": "mx; dkim=pass"}, "authserv_id"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_settings_are_refused_at_load(data: dict[str, object], where: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=where):
        DkimConfig.model_validate(data)
