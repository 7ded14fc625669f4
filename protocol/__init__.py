"""sifnet wire protocol, sans-IO: envelopes, canonical JSON, Ed25519, message types, channels.

No clock, no randomness, no I/O: time, keys and ids are always arguments.
"""

from .canonical import MAX_DEPTH, MAX_JSON_BYTES, canonical_json, parse_json
from .chain import ChainReport, check_chain, entry_hash, genesis_hash
from .encoding import b64url_decode, b64url_encode
from .envelope import ChannelRef, Envelope, Signature, check_form, make_envelope
from .errors import (
    ERROR_CODES,
    BodyError,
    ChainError,
    EnvelopeError,
    ErrorCode,
    JSONInputError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    ReplayWindowError,
    SchemaError,
    SignatureError,
)
from .keyring import KeyInfo, Keyring, key_infos_from_document
from .keys import PublicKey, SigningKey, key_id_of
from .messages import MESSAGE_TYPES, MessageType, message_type, validate_body
from .rotation import apply_rotation, key_proof_input, keys_before, sign_key_proof
from .schema import MAX_AMOUNT
from .signing import check_created, check_signature, envelope_hash, sign_envelope, signing_input, verify_envelope
from .timefmt import format_time, parse_time
from .wire import BROADCAST, PROTOCOL_VERSION, SUPPORTED_VERSIONS

__all__ = [
    "BROADCAST",
    "ERROR_CODES",
    "MAX_AMOUNT",
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "MESSAGE_TYPES",
    "PROTOCOL_VERSION",
    "SUPPORTED_VERSIONS",
    "BodyError",
    "ChainError",
    "ChainReport",
    "ChannelRef",
    "Envelope",
    "EnvelopeError",
    "ErrorCode",
    "JSONInputError",
    "KeyInfo",
    "Keyring",
    "LocalProtocolError",
    "MessageType",
    "ProtocolError",
    "PublicKey",
    "RemoteProtocolError",
    "ReplayWindowError",
    "SchemaError",
    "Signature",
    "SignatureError",
    "SigningKey",
    "apply_rotation",
    "b64url_decode",
    "b64url_encode",
    "canonical_json",
    "check_chain",
    "check_created",
    "check_form",
    "check_signature",
    "entry_hash",
    "envelope_hash",
    "format_time",
    "genesis_hash",
    "key_id_of",
    "key_proof_input",
    "keys_before",
    "key_infos_from_document",
    "make_envelope",
    "message_type",
    "parse_json",
    "parse_time",
    "sign_envelope",
    "sign_key_proof",
    "signing_input",
    "validate_body",
    "verify_envelope",
]
