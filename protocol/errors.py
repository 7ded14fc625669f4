"""Protocol errors: two families (their fault, our fault), each with a machine code."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ErrorCode:
    """One registered error code: its HTTP status hint and what it means."""

    code: str
    status: int
    meaning: str


def _table(*rows: tuple[str, int, str]) -> MappingProxyType[str, ErrorCode]:
    return MappingProxyType({code: ErrorCode(code, status, meaning) for code, status, meaning in rows})


# The single source of truth for codes; SPEC.md's error table is tested against it.
# `status` is the hint when the error is raised as a RemoteProtocolError; a
# LocalProtocolError always hints 500 whatever its code.
ERROR_CODES = _table(
    # Reading JSON bytes.
    ("too_large", 413, "The JSON input is larger than the size limit."),
    ("bad_encoding", 400, "The input is not UTF-8 (or starts with a byte order mark)."),
    ("invalid_json", 400, "The input is not JSON text."),
    ("duplicate_key", 400, "An object has the same member name twice."),
    ("non_finite_number", 400, "A number is NaN, Infinity or overflows to infinity."),
    ("nesting_too_deep", 400, "Objects and arrays are nested deeper than the limit."),
    ("bad_string", 400, "A string holds a lone surrogate, so it is not Unicode text."),
    # Shape of envelopes and bodies.
    ("unknown_field", 422, "An object has a member its schema does not define."),
    ("missing_field", 422, "A required member is absent."),
    ("wrong_type", 422, "A value has the wrong JSON type."),
    ("float_not_allowed", 422, "A number has a fraction or exponent; only integers are allowed."),
    ("integer_out_of_range", 422, "An integer lies outside -(2^53-1) .. 2^53-1."),
    ("out_of_range", 422, "An integer lies outside the bounds of its field."),
    ("amount_not_positive", 422, "An amount is zero or negative."),
    ("amount_too_large", 422, "An amount exceeds 2^53-1."),
    ("string_too_short", 422, "A string is shorter than its field allows."),
    ("string_too_long", 422, "A string is longer than its field allows (in code points)."),
    ("bad_format", 422, "A string does not match the pattern of its field."),
    ("list_too_short", 422, "An array has fewer items than its field requires."),
    ("list_too_long", 422, "An array has more items than its field allows."),
    ("map_too_large", 422, "A map object has more members than its field allows."),
    ("bad_enum", 422, "A string is not one of the values its field allows."),
    ("bad_time", 422, "A timestamp is not of the form YYYY-MM-DDTHH:MM:SSZ or is not a real instant."),
    ("bad_base64", 422, "A string is not unpadded, canonical base64url."),
    ("bad_public_key", 422, "A public key is not 32 bytes of a valid Ed25519 key."),
    ("kid_mismatch", 422, "A key id is not the one derived from the public key it names."),
    ("bad_interval", 422, "A key's not_after is not later than its not_before."),
    ("unknown_type", 422, "The message type is not in the registry of this protocol version."),
    # Receiver checks on an envelope.
    ("unsupported_version", 400, "The envelope version `v` is not one this node speaks."),
    ("channel_mismatch", 422, "A channel type arrived without `channel`, or a direct type with one."),
    ("wrong_recipient", 421, "`to` is not this node (or `*` where the type is not a broadcast)."),
    ("signature_missing", 401, "The envelope carries no signature."),
    ("unsupported_algorithm", 401, "The signature algorithm is not ed25519."),
    ("unknown_key", 401, "The key id is not in the receiver's keyring."),
    ("key_not_of_sender", 401, "The key belongs to another node than `from`."),
    ("key_not_yet_valid", 401, "The envelope (or request) was created before the key's not_before."),
    ("key_expired", 401, "The envelope (or request) was created at or after the key's not_after."),
    ("bad_signature", 401, "The signature does not verify over the signing input."),
    ("envelope_future", 400, "`created` is later than now plus the allowed clock skew."),
    ("envelope_expired", 400, "`created` is earlier than now minus the maximum age."),
    ("replayed", 409, "An envelope with this id from this sender was already accepted."),
    # Channel hash chains.
    ("not_a_channel_entry", 422, "An entry of a channel has no `channel` member."),
    ("wrong_sender", 403, "A channel entry's `from` is not the channel's sender."),
    ("wrong_receiver", 421, "A channel entry's `to` is not the channel's receiver."),
    ("seq_gap", 409, "A channel entry's seq skips past the next expected number."),
    ("seq_duplicate", 409, "A channel entry's seq repeats or goes back."),
    ("prev_mismatch", 409, "A channel entry's prev is not the hash of the entry before it."),
    ("seq_conflict", 409, "An entry at a seq the receiver already applied differs from the applied entry."),
    ("key_retired", 401, "A channel entry is signed by a key that an earlier key_rotation of the channel retired."),
    # Key rotation (section 8): it must be able to take effect.
    (
        "bad_rotation",
        422,
        "A key_rotation is not signed by the key it retires, retires it before its own creation, "
        "or names the same key twice.",
    ),
    ("bad_key_proof", 401, "A key_rotation's proof of possession does not verify with the new key."),
    (
        "key_claimed",
        409,
        "A key announced by a key_rotation (or a would-be peer's document) is already known, "
        "as another node's key or as one of the sender's.",
    ),
    # Transport (section 12): the HTTP request around the envelopes.
    ("not_found", 404, "No federation endpoint at this path."),
    ("method_not_allowed", 405, "The endpoint does not take this HTTP method."),
    ("unknown_peer", 401, "`Sifnet-From` names no peer of the receiver."),
    ("peer_suspended", 403, "The receiver suspended (defederated) the sender."),
    ("peer_not_confirmed", 403, "The receiver has not yet confirmed the sender's key fingerprint."),
    ("bad_request_signature", 401, "The HTTP message signature is malformed or does not verify."),
    (
        "signature_params",
        401,
        "The Signature-Input does not follow the template of section 12 (label, components, parameters).",
    ),
    ("unsupported_digest", 401, "Content-Digest carries no sha-256 digest."),
    ("digest_mismatch", 401, "The Content-Digest does not match the body."),
    ("request_future", 401, "The request's `created` is later than now plus the allowed clock skew."),
    ("request_expired", 401, "The request's `created` is too old, or its `expires` has passed."),
    ("request_replayed", 409, "A request with this signature nonce was already received."),
    ("origin_mismatch", 403, "An envelope's `from` is not the peer that signed the request."),
    (
        "invalid_batch",
        400,
        'The inbox body is not `{"entries": [...]}` with 1 to 500 entries (and, optionally, a well-formed `ack`).',
    ),
    (
        "ack_mismatch",
        409,
        "An inbox request acknowledges an entry this node did not send to the peer, or one with another hash.",
    ),
    ("batch_out_of_order", 400, "The entries of a batch are not in rising `seq`."),
    ("unsupported_type", 422, "A known message type that this endpoint does not take."),
    ("directory_not_set", 404, "The node is not listed in a network directory, so it serves no summary."),
    # Settlement (section 12, Settlement): refusals of a round's messages.
    (
        "round_unknown",
        404,
        "A settlement message of a round the participant stated nothing for, or of another coordinator.",
    ),
    ("not_a_request", 422, "A position_statement sent to a participant carries positions."),
    ("round_id_taken", 409, "Another coordinator runs a round of that id."),
    ("round_in_progress", 409, "The participant accepted another coordinator's round that is not over."),
    ("not_a_participant", 422, "The proposal does not name the participant."),
    ("proposal_conflict", 409, "The participant already answered another proposal of the round."),
    ("not_accepted", 409, "A certificate of a round the participant refused or never answered."),
    ("certificate_forged", 403, "A certificate's proposal or acceptances are not validly signed."),
    ("certificate_incomplete", 422, "A certificate lacks an accepting participant."),
    ("certificate_mismatch", 409, "A certificate carries another proposal, or a foreign or repeated acceptance."),
    ("certificate_late", 409, "A certificate carries an acceptance made after the deadline."),
    ("certificate_malformed", 422, "A certificate does not read."),
    # Only ever raised as LocalProtocolError: the caller asked for something wrong.
    ("bad_seed", 500, "A signing key seed is not exactly 32 bytes."),
    ("naive_datetime", 500, "A datetime without a time zone was passed in."),
    ("not_canonicalizable", 500, "A value cannot be written as RFC 8785 canonical JSON."),
    ("duplicate_kid", 500, "A keyring was given two different keys with the same key id."),
    ("bad_argument", 500, "An argument is outside what the function accepts."),
)


class ProtocolError(Exception):
    """Base of every error the protocol raises; carries a registered code."""

    code: str
    message: str
    where: str | None

    def __init__(self, code: str, message: str, *, where: str | None = None) -> None:
        if code not in ERROR_CODES:
            # A typo in a code must fail loudly in tests, not reach the wire.
            raise KeyError(f"unregistered protocol error code {code!r}")
        super().__init__(code, message, where)
        self.code = code
        self.message = message
        self.where = where

    @property
    def status_hint(self) -> int:
        """HTTP status a server would answer with."""
        return ERROR_CODES[self.code].status

    def __str__(self) -> str:
        at = f" (at {self.where})" if self.where else ""
        return f"{self.code}: {self.message}{at}"


class RemoteProtocolError(ProtocolError):
    """The other side sent something wrong."""


class LocalProtocolError(ProtocolError):
    """We were asked to do something wrong; a bug on our side."""

    @property
    def status_hint(self) -> int:
        """Always 500: the fault is ours."""
        return 500


class JSONInputError(RemoteProtocolError):
    """JSON bytes that cannot be read under our restrictions."""


class SchemaError(RemoteProtocolError):
    """A value does not match its declared shape."""


class EnvelopeError(SchemaError):
    """The envelope itself (not its body) is malformed."""


class BodyError(SchemaError):
    """A message body does not match its type's schema."""


class SignatureError(RemoteProtocolError):
    """The envelope is not validly signed by a key of its sender."""


class ReplayWindowError(RemoteProtocolError):
    """The envelope is outside the acceptance window, or already seen."""


class ChainError(RemoteProtocolError):
    """A channel's hash chain breaks at a given entry."""

    index: int
    seq: int | None

    def __init__(self, code: str, message: str, *, index: int, seq: int | None) -> None:
        where = f"entry seq {seq}" if seq is not None else f"entry index {index}"
        super().__init__(code, message, where=where)
        self.index = index
        self.seq = seq
