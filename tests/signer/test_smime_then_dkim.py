"""S/MIME first, DKIM last (the pipeline's order): both verify independently at the far end."""

from __future__ import annotations

from signer import DkimSigner, DkimVerifier, SmimeSigner, SmimeVerifier
from signer.dkim import SigningKey
from signer.dkim_verify import AuthResult
from signer.keys import Algorithm, generate_private_key, key_record
from support.smime import ALICE, cast, identity, message

DOMAIN = ALICE.split("@", 1)[1]


def test_smime_signed_then_dkim_signed_both_verify() -> None:
    private = generate_private_key(Algorithm.ED25519_SHA256)
    dkim_key = SigningKey(DOMAIN, "s1", Algorithm.ED25519_SHA256, private)
    records = {f"s1._domainkey.{DOMAIN}": [key_record(private).encode()]}

    smime_signed = SmimeSigner().sign(message(), identity(cast().alice)).message
    final = DkimSigner([dkim_key]).sign(smime_signed, domain=DOMAIN) + smime_signed

    dkim = DkimVerifier(lambda name: records.get(name.rstrip("."), [])).verify(final)
    assert [r.result for r in dkim] == [AuthResult.PASS]
    smime = SmimeVerifier(cast().trust()).verify(final)
    assert smime.is_pass and smime.signer == ALICE
