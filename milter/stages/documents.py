"""The digital signatures inside attached documents, on the bytes as received.

For every attachment and archive member that is a PDF or an Office package, signer/'s
`DocumentVerifier` gives each signature a verdict; the results go to
``ctx.documents`` (a list of dicts, one per document, keyed by the
attachment's ``sha256`` like the audit record's attachments) and the policy stage can
read them as ``verdicts(ctx)``. The stage never refuses mail: a document that cannot be
verified in time is recorded as ``unverifiable`` and the message flows on. The
attachments are the message's parts as policies/ reads them once (``ctx.parts``, see
:func:`parts_of`): the policy stage and the record use the same reading.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from typing import Any, ClassVar

from milter.context import MessageContext
from milter.pipeline import CONTINUE, StageKind, Verdict
from policies import MessageParts, PoliciesConfig, attachment_bytes
from signer import DocumentKind, DocumentVerifier

log = logging.getLogger("congvu.milter")

# Below this size the walk runs inline (a message without documents costs well under a
# millisecond); above it, or once a document is found, the work goes to a thread.
_INLINE_LIMIT = 256 * 1024


# The first bytes of what can be, or hold, a document: PDF, zip (OOXML, ODF and plain
# zip), the other archives policies/ opens (tar and ISO excepted: their marks lie deep
# inside), and TNEF (winmail.dat).
_MAGICS = (b"%PDF-", b"PK\x03\x04", b"\x1f\x8b\x08", b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07",
           b"\xfd7zXZ", b"BZh", b"MSCF\0", b"\x78\x9f\x3e\x22")
_BODY_START = re.compile(rb"\n\r?\n")


def _starts() -> tuple[bytes, ...]:
    """Each magic as a part's body starts with it: raw (8bit, binary), base64 (the
    characters that depend on the magic alone) and quoted-printable."""
    found = set()
    for magic in _MAGICS:
        found.add(magic)
        found.add(base64.b64encode(magic)[: len(magic) * 8 // 6])
        found.add(re.sub(rb"[^!-<>-~]", lambda m: b"=%02X" % m.group()[0], magic))
    return tuple(sorted(found))


_STARTS = _starts()


def may_hold_documents(raw: bytes) -> bool:
    """False only when no part of ``raw`` can be a document or an archive: no body
    starts with their first bytes in any transfer encoding, no PDF header is anywhere
    in the raw bytes, and there is no uuencoded block.

    Scanning for every encoding of every mark over the whole message costs about
    0.5 ms on 36 KB; looking only where bodies start keeps a message without documents
    well under the 1 ms budget the document stage has. A base64 tar or ISO image is not opened.
    """
    if b"%PDF-" in raw or b"\nbegin " in raw:
        return True
    for match in _BODY_START.finditer(raw):
        head = raw[match.end(): match.end() + 16].lstrip(b"\r\n")
        if head.startswith(_STARTS):
            return True
    return False


def parts_of(ctx: MessageContext, policies: PoliciesConfig,
             raw: bytes | None = None) -> MessageParts:
    """The parts of ``raw`` (the bytes as received when not given) read with the
    ``[policies.limits]`` of ``policies``: for the bytes as received, the one reading
    ``ctx.parts`` keeps for every stage and the record."""
    raw = ctx.original_content if raw is None else raw
    return ctx.parts.read(raw, walk_limits=policies.limits.walk(),
                          archive_limits=policies.limits.archives(),
                          header=ctx.header if raw is ctx.original_content else None)


class DocumentsStage:
    """Verify the signatures inside attached PDFs and Office documents; record them.

    :param policies: the ``[policies]`` table, whose limits bound the walk of the
        parts (shared with the policy stage, so both see the same attachments).
    """

    name = "documents"
    kind: ClassVar[StageKind] = StageKind.VERIFY

    def __init__(self, verifier: DocumentVerifier, *, timeout: float = 10.0,
                 policies: PoliciesConfig | None = None) -> None:
        self.verifier = verifier
        self.timeout = timeout
        self.policies = policies or PoliciesConfig()

    async def run(self, ctx: MessageContext) -> Verdict:
        """Record each document's signatures on the context; always continue."""
        raw = ctx.original_content
        found: list[dict[str, Any]] = []
        ctx.documents = found
        if ctx.parts.found is None and not may_hold_documents(raw):
            return CONTINUE
        if len(raw) <= _INLINE_LIMIT:
            documents = self._documents(ctx, found)
            if not documents:
                return CONTINUE
        else:
            documents = None
        work = asyncio.to_thread(self._verify_all, ctx, documents, found)
        try:
            await asyncio.wait_for(work, self.timeout)
        except TimeoutError:
            log.warning("document signatures not verified within %.1f s; recorded as "
                        "unverifiable", self.timeout)
        ctx.documents = [entry for entry in found if entry]
        return CONTINUE

    def _documents(self, ctx: MessageContext, found: list[dict[str, Any]]
                   ) -> list[tuple[dict[str, Any], bytes]]:
        """The attachments that are documents, each with a placeholder entry in
        ``found`` (what stays recorded if verification does not finish)."""
        documents = []
        try:
            for item in attachment_bytes(parts_of(ctx, self.policies)):
                if DocumentVerifier.kind_of(item.data) is DocumentKind.NONE:
                    continue
                entry: dict[str, Any] = {
                    "sha256": item.sha256, "path": item.path, "member": item.member,
                    "filename": item.filename, "kind": "unknown", "verdict": "unverifiable",
                    "is_signed": False, "is_validly_signed": False,
                    "reason": f"verification did not finish within {self.timeout:g} s",
                    "signatures": [],
                }
                found.append(entry)
                documents.append((entry, item.data))
        except Exception as exc:  # the walk must never stop the mail
            log.warning("attachments could not be walked for document signatures: %r", exc)
        return documents

    def _verify_all(self, ctx: MessageContext,
                    documents: list[tuple[dict[str, Any], bytes]] | None,
                    found: list[dict[str, Any]]) -> None:
        if documents is None:
            documents = self._documents(ctx, found)
        for index, (entry, data) in enumerate(documents):
            try:
                result = self.verifier.verify(data, entry["filename"])
            except Exception as exc:  # verify does not raise; a bug must not lose mail
                log.exception("document verification failed")
                update: dict[str, object] = {"reason": f"verification failed: {exc!r}"}
            else:
                if result.kind is DocumentKind.NONE:
                    found[found.index(entry)] = {}  # a plain zip: not a document
                    continue
                update = {**result.as_dict(), "complete": result.is_complete}
                update.pop("filename", None)
            # replace, never mutate: the event loop may read ``found`` after a timeout
            position = found.index(entry)
            found[position] = {**entry, **update}
            documents[index] = (found[position], data)
        found[:] = [entry for entry in found if entry]


def verdicts(ctx: MessageContext) -> dict[str, str]:
    """{attachment sha256: document verdict} for `policies.decide(..., documents=...)`."""
    return {entry["sha256"]: entry["verdict"]
            for entry in ctx.documents if entry.get("sha256")}
