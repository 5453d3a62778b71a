"""Why a signature's verdict is what it is: the reason codes of signer/, with their English.

The code is stored in the audit record beside the English text (``reason``), so it is
stable: never renamed, only added. The template is the English text itself (what
Authentication-Results, logs and JSON keep) and the msgid of
signer/locale/vi/LC_MESSAGES/congvu-signer.po, where a person reads it in Vietnamese;
its ``{fields}`` are the parameters: data values (a certificate's name, a date, a
library's own words) shown as they are, or a nested reason.
"""

from __future__ import annotations

from pathlib import Path

from mailbase import N_, Catalogue, Reason, ReasonCode

__all__ = ["CATALOGUE", "REASONS", "judged"]

CATALOGUE = Catalogue(Path(__file__).resolve().parent / "locale", "congvu-signer")

# -- a certificate's path to a trust anchor (documents and S/MIME) --------------------------
NO_ANCHORS = ReasonCode("trust.no-anchors", N_("no trust anchors are configured"))
CERT_EXPIRED = ReasonCode("trust.expired", N_("the certificate expired on {date} UTC"))
CERT_NOT_YET_VALID = ReasonCode("trust.not-yet-valid",
                                N_("the certificate is valid only from {date} UTC"))
CERT_WEAK = ReasonCode("trust.weak-algorithm",
                       N_("the signer's certificate is signed with {algorithm}, a weak "
                          "algorithm that is not accepted"))
NO_PATH = ReasonCode("trust.no-path", N_("no valid path to a trust anchor: {detail}"))
ANCHOR_ITSELF = ReasonCode("trust.anchor", N_("trusted as configured ({root})"))
CHAINED = ReasonCode("trust.chained", N_("chained to {root}"))
CHAINED_NOT_REVOKED = ReasonCode("trust.chained-not-revoked",
                                 N_("chained to {root}, not revoked"))

# -- a signature inside a document ----------------------------------------------------------
SIGNED_BYTES_CHANGED = ReasonCode(
    "document.signed-bytes-changed",
    N_("the document's signed bytes do not match the signature (changed after signing)"))
SIGNATURE_VALUE_WRONG = ReasonCode(
    "document.signature-value-wrong",
    N_("the signature value does not verify with the signer's certificate"))
WEAK_DIGEST = ReasonCode(
    "document.weak-digest",
    N_("the signature uses {algorithm}, a weak digest algorithm that is not accepted "
       "(anyone can make another document with the same digest)"))
CHANGED_AFTER_SIGNING = ReasonCode("document.changed-after-signing",
                                   N_("the document was changed after signing ({detail})"))
JUDGED_TIMESTAMP = ReasonCode("document.judged-timestamp",
                              N_("{check}; judged at the timestamped signing time"))
JUDGED_CLAIMED = ReasonCode(
    "document.judged-claimed",
    N_("{check}; judged at the signing time the signer claims (no timestamp)"))
JUDGED_NOW = ReasonCode("document.judged-now",
                        N_("{check}; judged now (the signature states no time)"))
CHAIN_LOOPS = ReasonCode("document.chain-loops",
                         N_("the certificate chain in the signature loops ({loop})"))
UNREADABLE = ReasonCode("document.unreadable", N_("{what}: {detail}"))
PDF_UNREADABLE = ReasonCode("document.pdf-unreadable", N_("the PDF cannot be read"))
SIGNATURE_UNREADABLE = ReasonCode("document.signature-unreadable",
                                  N_("the signature cannot be read"))
NESTED_TOO_DEEPLY = ReasonCode("document.nested-too-deeply",
                               N_("{what}: nested too deeply to read"))
TOO_LARGE = ReasonCode("document.too-large-to-read", N_("{what}: too large to read"))
PDF_ENCRYPTED = ReasonCode(
    "document.pdf-encrypted",
    N_("the PDF is encrypted with a password; its signatures cannot be read"))
TOO_MANY_REVISIONS = ReasonCode(
    "document.too-many-revisions",
    N_("the PDF has {revisions} revisions, more than the {limit} verified"))
BARE_PKCS1 = ReasonCode(
    "document.bare-pkcs1",
    N_("the signature format adbe.x509.rsa_sha1 (a bare PKCS#1 signature) is not "
       "supported"))
NO_SIGNER_CERTIFICATE = ReasonCode(
    "document.no-signer-certificate",
    N_("the signer's certificate is not in the signature ({detail})"))
FORMAT_UNSUPPORTED = ReasonCode("document.format-unsupported",
                                N_("the signature format {format} is not supported"))
TOO_MANY_SIGNATURES = ReasonCode(
    "document.too-many-signatures",
    N_("more than {limit} signatures; the rest were not verified"))
TOO_MANY_OFFICE_SIGNATURES = ReasonCode(
    "document.too-many-office-signatures",
    N_("more than {limit} signatures; the rest were not read"))
OFFICE_PART_UNREADABLE = ReasonCode("document.office-part-unreadable",
                                    N_("the signature part cannot be read ({detail})"))
OFFICE_PART_TOO_LARGE = ReasonCode("document.office-part-too-large",
                                   N_("the signature part is larger than 1 MB"))
OFFICE_PART_DTD = ReasonCode("document.office-part-dtd",
                             N_("the signature part declares a DTD (not accepted)"))
OFFICE_PART_NOT_XML = ReasonCode(
    "document.office-part-not-xml",
    N_("the signature part is not well-formed XML ({detail})"))
OFFICE_NO_CERTIFICATE = ReasonCode("document.office-no-certificate",
                                   N_("the signature carries no readable certificate"))
OFFICE_NOT_CHECKED = ReasonCode(
    "document.office-not-checked",
    N_("the package's integrity is not verified (Office signatures are detected and "
       "their signer reported); certificate: {check}"))
NOT_VERIFIED = ReasonCode("document.not-verified",
                          N_("the document could not be verified ({error})"))
TOO_LARGE_TO_VERIFY = ReasonCode("document.too-large",
                                 N_("larger than the {megabytes} MB verified"))
DOCUMENT_TOO_LARGE = ReasonCode("document.too-large-signed",
                                N_("the document is larger than the {megabytes} MB verified"))

# -- SPF (RFC 7208) ----------------------------------------------------------------------------
SPF_NOT_AN_ADDRESS = ReasonCode("spf.not-an-address",
                                N_("the client address {address} is not an IP address"))
SPF_NO_CLIENT = ReasonCode("spf.no-client",
                           N_("the original client is unknown (no XFORWARD ADDR)"))
SPF_NO_DOMAIN = ReasonCode("spf.no-domain", N_("no valid domain to check in {sender}"))
SPF_DNS_FAILED = ReasonCode("spf.dns-failed", N_("DNS lookup failed: {detail}"))
SPF_CANNOT_EVALUATE = ReasonCode("spf.cannot-evaluate",
                                 N_("SPF record of {domain} cannot be evaluated: {detail}"))
SPF_AMBIGUOUS = ReasonCode("spf.ambiguous", N_("SPF record of {domain} is ambiguous: {detail}"))
SPF_NO_RECORD = ReasonCode("spf.no-record", N_("no SPF record at {domain}"))
SPF_AUTHORIZED = ReasonCode("spf.authorized",
                            N_("{client} is authorized by {domain}{matched}"))
SPF_NOT_AUTHORIZED = ReasonCode("spf.not-authorized",
                                N_("{client} is not authorized by {domain}{matched}"))
SPF_DISCOURAGED = ReasonCode("spf.discouraged",
                             N_("{client} is discouraged by {domain}{matched}"))
SPF_NEITHER = ReasonCode("spf.neutral",
                         N_("{client} is neither authorized nor denied by {domain}{matched}"))
SPF_MATCHED = ReasonCode("spf.matched", N_(", matched {mechanism}"))

# -- DMARC (RFC 7489) --------------------------------------------------------------------------
DMARC_FROM_UNREADABLE = ReasonCode("dmarc.from-unreadable", N_("From: {ambiguity}"))
DMARC_LOOKUP_FAILED = ReasonCode("dmarc.lookup-failed",
                                 N_("policy lookup of {name} failed: {detail}"))
DMARC_NO_RECORD = ReasonCode("dmarc.no-record", N_("no DMARC record for {domain}"))
DMARC_ALIGNED_DKIM = ReasonCode("dmarc.aligned-dkim", N_("aligned DKIM d={dkim}"))
DMARC_ALIGNED_SPF = ReasonCode("dmarc.aligned-spf", N_("aligned SPF {spf}"))
DMARC_ALIGNED_BOTH = ReasonCode("dmarc.aligned-both", N_("aligned DKIM d={dkim} and SPF {spf}"))
DMARC_NOT_ALIGNED = ReasonCode("dmarc.not-aligned",
                               N_("neither SPF nor DKIM aligned with {domain}: {dkim}; {spf}"))
DMARC_DKIM_PASSED_FOR = ReasonCode("dmarc.dkim-passed-for",
                                   N_("DKIM passed only for {domains}"))
DMARC_NO_DKIM = ReasonCode("dmarc.no-dkim", N_("no DKIM signature passed"))
DMARC_SPF_NOT_ALIGNED = ReasonCode("dmarc.spf-not-aligned",
                                   N_("SPF passed for {domain}, not aligned"))
DMARC_SPF_RESULT = ReasonCode("dmarc.spf-result", N_("SPF {result}"))

# -- ARC (RFC 8617) ----------------------------------------------------------------------------
ARC_NONE = ReasonCode("arc.none", N_("no ARC set"))
ARC_MALFORMED_HEADER = ReasonCode("arc.malformed-header",
                                  N_("malformed header section: {detail}"))
ARC_MALFORMED_SET = ReasonCode("arc.malformed-set", N_("malformed ARC set: {detail}"))
ARC_UNCHECKABLE = ReasonCode("arc.uncheckable", N_("ARC set cannot be checked: {detail}"))
ARC_VERIFIED = ReasonCode("arc.verified",
                          N_("chain of {sets} sets verified, newest sealed by {sealer}"))

# -- S/MIME (RFC 8551) --------------------------------------------------------------------------
SMIME_UNPARSABLE = ReasonCode("smime.unparsable", N_("the signature cannot be parsed: {detail}"))
SMIME_SEVERAL_TYPES = ReasonCode("smime.several-content-types",
                                 N_("the message has several Content-Type header fields"))
SMIME_OPENPGP = ReasonCode("smime.openpgp", N_("OpenPGP signed, not S/MIME"))
SMIME_PROTOCOL = ReasonCode("smime.protocol", N_("multipart/signed with protocol {protocol}"))
SMIME_ENCRYPTED = ReasonCode("smime.encrypted",
                             N_("the message is encrypted; its signature, if any, is inside"))
SMIME_CERTS_ONLY = ReasonCode("smime.certs-only", N_("a certificate transfer, not a signature"))
SMIME_NESTED = ReasonCode(
    "smime.nested", N_("part {part} is S/MIME signed inside an unsigned message (nested or "
                       "forwarded); that signature does not cover this message"))
SMIME_UNSIGNED = ReasonCode("smime.unsigned", N_("the message is not S/MIME signed"))
SMIME_SIGNER_OF = ReasonCode("smime.signer-of", N_("signer {number} of {count}: {reason}"))
SMIME_FUTURE = ReasonCode("smime.future", N_("the signing time {time} UTC is in the future"))
SMIME_AT_SIGNING_TIME = ReasonCode("smime.at-signing-time",
                                   N_("at the signing time {time} UTC: {check}"))
SMIME_NO_SENDER = ReasonCode("smime.no-sender", N_("valid signature, but {problem}"))
SMIME_NOT_THE_SENDER = ReasonCode(
    "smime.not-the-sender",
    N_("valid signature, not the sender: the certificate names {names}, the message is "
       "from {sender}"))
SMIME_SIGNED = ReasonCode("smime.signed", N_("signed by {subject} for {sender}; {check}"))
SMIME_SIGNED_FROM_UNUSABLE = ReasonCode("smime.signed-from-unusable",
                                        N_("the signed From header is unusable: {problem}"))
SMIME_FROM_CHANGED = ReasonCode(
    "smime.from-changed",
    N_("the From header was changed after signing: signed as {signed}, now {now}"))

# -- DKIM verification (RFC 6376) ------------------------------------------------------------
DKIM_UNSIGNED = ReasonCode("dkim.unsigned", N_("message not signed"))
DKIM_VERIFIED = ReasonCode("dkim.verified", N_("signature verified"))
DKIM_HEADER_MALFORMED = ReasonCode("dkim.malformed-header",
                                   N_("malformed header section: {detail}"))
DKIM_TOO_MANY = ReasonCode("dkim.too-many-signatures",
                           N_("{extra} more signatures not evaluated (limit {limit})"))
DKIM_TAG_LIST = ReasonCode("dkim.tag-list", N_("{detail}"))
DKIM_MISSING_TAGS = ReasonCode("dkim.missing-tags",
                               N_("signature lacks required tags: {tags}"))
DKIM_VERSION = ReasonCode("dkim.version", N_("unsupported version v={value}"))
DKIM_EXPIRES_BEFORE = ReasonCode("dkim.expires-before-timestamp", N_("x= is earlier than t="))
DKIM_BAD_DOMAIN = ReasonCode("dkim.bad-domain", N_("{tag} is not a valid domain name: {value}"))
DKIM_BAD_SELECTOR = ReasonCode("dkim.bad-selector", N_("s= is not a valid selector: {value}"))
DKIM_IDENTITY_NO_AT = ReasonCode("dkim.identity-no-at", N_("i= has no @: {value}"))
DKIM_IDENTITY_DOMAIN = ReasonCode("dkim.identity-bad-domain",
                                  N_("i= does not end in a valid domain name: {value}"))
DKIM_IDENTITY_LOCAL = ReasonCode("dkim.identity-bad-local-part",
                                 N_("i= has a malformed local part: {value}"))
DKIM_IDENTITY_OUTSIDE = ReasonCode("dkim.identity-outside-domain",
                                   N_("i= is not in the signing domain d="))
DKIM_BAD_NUMBER = ReasonCode("dkim.bad-number",
                             N_("{tag}= is not a number of at most {digits} digits: {value}"))
DKIM_BAD_ALGORITHM = ReasonCode("dkim.bad-algorithm", N_("a= is malformed: {value}"))
DKIM_RSA_SHA1 = ReasonCode("dkim.rsa-sha1",
                           N_("rsa-sha1 signatures are not accepted (RFC 8301)"))
DKIM_UNKNOWN_ALGORITHM = ReasonCode("dkim.unknown-algorithm",
                                    N_("unsupported algorithm a={value}"))
DKIM_BAD_CANON = ReasonCode("dkim.bad-canonicalization", N_("c= is malformed: {value}"))
DKIM_UNKNOWN_CANON = ReasonCode("dkim.unknown-canonicalization",
                                N_("unsupported canonicalization c={value}"))
DKIM_BAD_HEADER_LIST = ReasonCode("dkim.bad-header-list",
                                  N_("h= is not a list of header field names: {value}"))
DKIM_FROM_NOT_SIGNED = ReasonCode("dkim.from-not-signed", N_("h= does not include From"))
DKIM_BAD_QUERY = ReasonCode("dkim.bad-query-method", N_("q= is malformed: {value}"))
DKIM_UNKNOWN_QUERY = ReasonCode("dkim.unknown-query-method",
                                N_("unsupported query method q={value}"))
DKIM_BAD_COPIED = ReasonCode("dkim.bad-copied-headers", N_("z= is malformed near {value}"))
DKIM_NOT_BASE64 = ReasonCode("dkim.not-base64", N_("{tag} is not base64: {value}"))
DKIM_KEY_NOT_BASE64 = ReasonCode("dkim.key-not-base64",
                                 N_("key record at {name}: p= is not base64: {value}"))
DKIM_KEY_TAG_LIST = ReasonCode("dkim.key-tag-list", N_("key record at {name}: {detail}"))
DKIM_KEY_NOT_DKIM1 = ReasonCode(
    "dkim.key-not-dkim1",
    N_("key record at {name} is not DKIM1 (v=DKIM1 must be the first tag when present)"))
DKIM_KEY_NO_P = ReasonCode("dkim.key-no-p", N_("key record at {name} has no p= tag"))
DKIM_KEY_BAD_TAG = ReasonCode("dkim.key-bad-tag",
                              N_("key record at {name} has a malformed {tag}={value}"))
DKIM_EXPIRED = ReasonCode("dkim.expired", N_("signature expired"))
DKIM_BODY_HASH = ReasonCode("dkim.body-hash", N_("body hash did not verify"))
DKIM_LENGTH = ReasonCode("dkim.length-beyond-body", N_("l= is longer than the body"))
DKIM_DNS_BUDGET = ReasonCode(
    "dkim.dns-budget-spent",
    N_("key not looked up: the {seconds} s DNS budget of this message is spent"))
DKIM_NO_KEY = ReasonCode("dkim.no-key", N_("no key record at {name}"))
DKIM_KEY_REVOKED = ReasonCode("dkim.key-revoked", N_("key at {name} is revoked (empty p=)"))
DKIM_KEY_UNKNOWN_TYPE = ReasonCode("dkim.key-unknown-type",
                                   N_("key at {name} has unknown type k={value}"))
DKIM_KEY_NOT_RSA = ReasonCode("dkim.key-not-rsa", N_("key at {name} is not an RSA key"))
DKIM_KEY_MISMATCH = ReasonCode("dkim.key-type-mismatch",
                               N_("a={algorithm} but the key is {key_type}"))
DKIM_KEY_WEAK = ReasonCode("dkim.key-too-weak", N_("RSA key of {bits} bits is too weak"))
DKIM_KEY_NO_SHA256 = ReasonCode("dkim.key-no-sha256",
                                N_("the key record does not allow sha256 (h=)"))
DKIM_KEY_NOT_EMAIL = ReasonCode("dkim.key-not-email",
                                N_("the key record is not for email (s=)"))
DKIM_KEY_NO_SUBDOMAINS = ReasonCode("dkim.key-no-subdomains",
                                    N_("the key record forbids subdomains in i= (t=s)"))
DKIM_LOOKUP_FAILED = ReasonCode("dkim.lookup-failed", N_("key lookup failed: {detail}"))
DKIM_BAD_SIGNATURE = ReasonCode("dkim.signature-mismatch", N_("signature did not verify"))
DKIM_UNUSABLE = ReasonCode("dkim.unusable", N_("unusable key or tags: {detail}"))
DKIM_UNSUPPORTED_KEY = ReasonCode("dkim.unsupported-key", N_("unsupported key: {detail}"))
DKIM_MALFORMED_VALUE = ReasonCode("dkim.malformed-value", N_("malformed value: {detail}"))

#: every code of signer/ (a test checks each has its Vietnamese)
REASONS: tuple[ReasonCode, ...] = (
    NO_ANCHORS, CERT_EXPIRED, CERT_NOT_YET_VALID, CERT_WEAK, NO_PATH, ANCHOR_ITSELF,
    CHAINED, CHAINED_NOT_REVOKED, SIGNED_BYTES_CHANGED, SIGNATURE_VALUE_WRONG, WEAK_DIGEST,
    CHANGED_AFTER_SIGNING, JUDGED_TIMESTAMP, JUDGED_CLAIMED, JUDGED_NOW, CHAIN_LOOPS,
    UNREADABLE, PDF_UNREADABLE, SIGNATURE_UNREADABLE, NESTED_TOO_DEEPLY, TOO_LARGE,
    PDF_ENCRYPTED, TOO_MANY_REVISIONS, BARE_PKCS1, NO_SIGNER_CERTIFICATE, FORMAT_UNSUPPORTED,
    TOO_MANY_SIGNATURES, TOO_MANY_OFFICE_SIGNATURES, OFFICE_PART_UNREADABLE,
    OFFICE_PART_TOO_LARGE, OFFICE_PART_DTD, OFFICE_PART_NOT_XML, OFFICE_NO_CERTIFICATE,
    OFFICE_NOT_CHECKED, NOT_VERIFIED, TOO_LARGE_TO_VERIFY, DOCUMENT_TOO_LARGE,
    SPF_NOT_AN_ADDRESS, SPF_NO_CLIENT, SPF_NO_DOMAIN, SPF_DNS_FAILED, SPF_CANNOT_EVALUATE,
    SPF_AMBIGUOUS, SPF_NO_RECORD, SPF_AUTHORIZED, SPF_NOT_AUTHORIZED, SPF_DISCOURAGED,
    SPF_NEITHER, SPF_MATCHED, DMARC_FROM_UNREADABLE, DMARC_LOOKUP_FAILED, DMARC_NO_RECORD,
    DMARC_ALIGNED_DKIM, DMARC_ALIGNED_SPF, DMARC_ALIGNED_BOTH, DMARC_NOT_ALIGNED,
    DMARC_DKIM_PASSED_FOR, DMARC_NO_DKIM, DMARC_SPF_NOT_ALIGNED, DMARC_SPF_RESULT, ARC_NONE,
    ARC_MALFORMED_HEADER, ARC_MALFORMED_SET, ARC_UNCHECKABLE, ARC_VERIFIED, SMIME_UNPARSABLE,
    SMIME_SEVERAL_TYPES, SMIME_OPENPGP, SMIME_PROTOCOL, SMIME_ENCRYPTED, SMIME_CERTS_ONLY,
    SMIME_NESTED, SMIME_UNSIGNED, SMIME_SIGNER_OF, SMIME_FUTURE, SMIME_AT_SIGNING_TIME,
    SMIME_NO_SENDER, SMIME_NOT_THE_SENDER, SMIME_SIGNED, SMIME_SIGNED_FROM_UNUSABLE,
    SMIME_FROM_CHANGED,
    DKIM_UNSIGNED, DKIM_VERIFIED, DKIM_HEADER_MALFORMED, DKIM_TOO_MANY, DKIM_TAG_LIST,
    DKIM_MISSING_TAGS, DKIM_VERSION, DKIM_EXPIRES_BEFORE, DKIM_BAD_DOMAIN,
    DKIM_BAD_SELECTOR, DKIM_IDENTITY_NO_AT, DKIM_IDENTITY_DOMAIN, DKIM_IDENTITY_LOCAL,
    DKIM_IDENTITY_OUTSIDE, DKIM_BAD_NUMBER, DKIM_BAD_ALGORITHM, DKIM_RSA_SHA1,
    DKIM_UNKNOWN_ALGORITHM, DKIM_BAD_CANON, DKIM_UNKNOWN_CANON, DKIM_BAD_HEADER_LIST,
    DKIM_FROM_NOT_SIGNED, DKIM_BAD_QUERY, DKIM_UNKNOWN_QUERY, DKIM_BAD_COPIED,
    DKIM_NOT_BASE64, DKIM_KEY_NOT_BASE64, DKIM_KEY_TAG_LIST, DKIM_KEY_NOT_DKIM1,
    DKIM_KEY_NO_P, DKIM_KEY_BAD_TAG, DKIM_EXPIRED, DKIM_BODY_HASH, DKIM_LENGTH,
    DKIM_DNS_BUDGET, DKIM_NO_KEY, DKIM_KEY_REVOKED, DKIM_KEY_UNKNOWN_TYPE, DKIM_KEY_NOT_RSA,
    DKIM_KEY_MISMATCH, DKIM_KEY_WEAK, DKIM_KEY_NO_SHA256, DKIM_KEY_NOT_EMAIL,
    DKIM_KEY_NO_SUBDOMAINS, DKIM_LOOKUP_FAILED, DKIM_BAD_SIGNATURE, DKIM_UNUSABLE,
    DKIM_UNSUPPORTED_KEY, DKIM_MALFORMED_VALUE,
)


def judged(check: Reason | str, source: str) -> Reason:
    """A document signature's reason: its certificate's ``check`` and the time it was
    judged at, by the signing time's ``source`` (timestamp, claimed or none)."""
    code = {"timestamp": JUDGED_TIMESTAMP, "claimed": JUDGED_CLAIMED}.get(source, JUDGED_NOW)
    return code(check=check)
