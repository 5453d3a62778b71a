"""The result of S/MIME verification, as a value (RFC 8601 and RFC 7281 vocabulary)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from mailbase import Reason


class SmimeStatus(StrEnum):
    """RFC 7281's result values for the ``smime`` method."""

    PASS = "pass"
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


# When signers disagree the worst one decides: one bad signer spoils the message.
_SEVERITY = {
    SmimeStatus.FAIL: 6, SmimeStatus.PERMERROR: 5, SmimeStatus.TEMPERROR: 4,
    SmimeStatus.POLICY: 3, SmimeStatus.NEUTRAL: 2, SmimeStatus.NONE: 1, SmimeStatus.PASS: 0,
}


@dataclass(frozen=True, slots=True)
class SignerReport:
    """What was found about one signer, for the audit record and ``smime inspect``."""

    status: SmimeStatus
    reason: str
    subject: str = ""
    addresses: tuple[str, ...] = ()
    serial: str = ""
    issuer: str = ""
    signing_time: dt.datetime | None = None
    chain: tuple[str, ...] = ()
    #: the reason's code and parameters (signer/reasons.py), which ``reason`` is the
    #: English of; None where it has none (the CMS reader's own words)
    why: Reason | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class SmimeResult:
    """The verdict on a message's S/MIME signature; ``pass`` only when everything holds.

    ``signer`` is the address the signature vouches for (the From address when the
    certificate names it), ``signers`` each signer's own report.
    """

    method: ClassVar[str] = "smime"

    status: SmimeStatus
    reason: str
    signer: str = ""
    subject: str = ""
    signers: tuple[SignerReport, ...] = ()
    #: the reason's code and parameters, which ``reason`` is the English of
    why: Reason | None = field(default=None, compare=False)

    @classmethod
    def of(cls, status: SmimeStatus, why: Reason) -> SmimeResult:
        """A result for ``why``, its English text rendered from it."""
        return cls(status, why.text, why=why)

    @property
    def is_pass(self) -> bool:
        """True only for ``pass``."""
        return self.status is SmimeStatus.PASS

    @property
    def result(self) -> SmimeStatus:
        """The status, under the name ``signer.authentication_results`` reads."""
        return self.status

    def properties(self) -> list[tuple[str, str]]:
        """RFC 7281 properties: the signer's address and certificate serial."""
        found: list[tuple[str, str]] = []
        if self.signer:
            found.append(("body.smime-identifier", self.signer))
        if self.signers and self.signers[0].serial:
            found.append(("body.smime-serial", self.signers[0].serial))
        return found

    def authentication_results(self) -> str:
        """This result as one method of an Authentication-Results field (RFC 8601, 7281).

        e.g. ``smime=pass reason="..." body.smime-identifier=unit@province.gov.vn``.
        """
        reason = self.reason.replace("\\", "\\\\").replace('"', '\\"')
        text = f'smime={self.status.value} reason="{reason}"'
        if self.signer:
            text += f" body.smime-identifier={_value(self.signer)}"
        if self.signers and self.signers[0].serial:
            text += f" body.smime-serial={self.signers[0].serial}"
        return text

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form for the audit record and the CLI."""
        return {
            "result": self.status.value,
            "reason": self.reason,
            "signer": self.signer,
            "subject": self.subject,
            "signers": [
                {
                    "result": s.status.value, "reason": s.reason, "subject": s.subject,
                    "addresses": list(s.addresses), "serial": s.serial, "issuer": s.issuer,
                    "signing_time": s.signing_time.isoformat() if s.signing_time else None,
                    "chain": list(s.chain),
                }
                for s in self.signers
            ],
        }


def worst(statuses: list[SmimeStatus]) -> SmimeStatus:
    """The most severe of several signer statuses."""
    return max(statuses, key=_SEVERITY.__getitem__)


def _value(text: str) -> str:
    # RFC 8601 section 2.2: a pvalue is a value (token or quoted string) or an addr-spec.
    if all(c.isalnum() or c in "@.-_+" for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
