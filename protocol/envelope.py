"""The envelope record, its strict JSON form, and building one to send."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from .canonical import MAX_DEPTH, check_unicode
from .errors import (
    EnvelopeError,
    JSONInputError,
    LocalProtocolError,
    RemoteProtocolError,
    SchemaError,
)
from .messages import MESSAGE_TYPES, MessageType, message_type, validate_body
from .schema import MAX_AMOUNT, child
from .timefmt import format_time
from .wire import BROADCAST, ENVELOPE_SHAPE, PROTOCOL_VERSION, SUPPORTED_VERSIONS


@dataclass(frozen=True)
class ChannelRef:
    """Position of an envelope in its channel: sequence number and hash of the entry before."""

    seq: int
    prev: str


@dataclass(frozen=True)
class Signature:
    """An envelope signature: algorithm, key id and the signature as base64url."""

    alg: str
    kid: str
    value: str


@dataclass(frozen=True)
class Envelope:
    """A signed (or not yet signed) message between nodes.

    ``body`` is a plain dict so that it round-trips to JSON unchanged; treat it
    as immutable: ``from_dict`` and ``make_envelope`` give each envelope its own copy.
    """

    v: int
    id: str
    type: str
    from_: str
    to: str
    created: str
    body: dict[str, Any] = field(hash=False)
    channel: ChannelRef | None = None
    sig: Signature | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with ``channel`` and ``sig`` omitted when absent."""
        data: dict[str, Any] = {
            "v": self.v,
            "id": self.id,
            "type": self.type,
            "from": self.from_,
            "to": self.to,
            "created": self.created,
            "body": self.body,
        }
        if self.channel is not None:
            data["channel"] = {"seq": self.channel.seq, "prev": self.channel.prev}
        if self.sig is not None:
            data["sig"] = {"alg": self.sig.alg, "kid": self.sig.kid, "value": self.sig.value}
        return data

    @classmethod
    def from_dict(cls, data: object) -> Envelope:
        """Read an envelope from its JSON form, strictly.

        Checks the shape of every envelope member, that ``to`` suits the type's
        addressing when the type is known, and that the body holds only JSON
        integers within +-MAX_AMOUNT (no floats). The body's own schema is
        checked by ``verify_envelope``, in its documented order.

        Raises:
            EnvelopeError: with the schema code and ``where`` (e.g. ``sig.kid``).
        """
        try:
            ENVELOPE_SHAPE.check(data, "")
        except SchemaError as exc:
            raise EnvelopeError(exc.code, exc.message, where=exc.where or None) from None
        assert isinstance(data, dict)
        _check_addressing_form(data["type"], data["to"])
        channel = data.get("channel")
        sig = data.get("sig")
        return cls(
            v=data["v"],
            id=data["id"],
            type=data["type"],
            from_=data["from"],
            to=data["to"],
            created=data["created"],
            body=copy_body(data["body"]),
            channel=ChannelRef(channel["seq"], channel["prev"]) if channel is not None else None,
            sig=Signature(sig["alg"], sig["kid"], sig["value"]) if sig is not None else None,
        )


def _check_addressing_form(type_name: str, to: str) -> None:
    """Refuse "*" for a known non-broadcast type, and a node id for a broadcast type."""
    mt = MESSAGE_TYPES.get(type_name)
    if mt is None:
        return  # unknown types are refused by the receiver checks, with their own code
    if mt.broadcast and to != BROADCAST:
        raise EnvelopeError("wrong_recipient", f"{type_name} is a broadcast, addressed to '*'", where="to")
    if not mt.broadcast and to == BROADCAST:
        raise EnvelopeError("wrong_recipient", f"{type_name} is addressed to one node, not '*'", where="to")


def copy_body(value: object, where: str = "body", depth: int = 1) -> dict[str, Any]:
    """Deep-copy a body, refusing floats, out-of-range integers and non-JSON values.

    Raises:
        EnvelopeError: ``float_not_allowed``, ``integer_out_of_range``,
            ``wrong_type``, ``bad_string`` or ``nesting_too_deep``.
    """
    if type(value) is not dict:
        raise EnvelopeError("wrong_type", "body must be an object", where=where)
    return _copy_value(value, where, depth)  # type: ignore[return-value]


def _copy_value(value: object, where: str, depth: int) -> object:
    kind = type(value)
    if kind is str:
        _check_text(value, where)  # type: ignore[arg-type]
        return value
    if kind is int:
        if not -MAX_AMOUNT <= value <= MAX_AMOUNT:  # type: ignore[operator]
            raise EnvelopeError("integer_out_of_range", "outside -(2^53-1) .. 2^53-1", where=where)
        return value
    if value is None or kind is bool:
        return value
    if kind is float:
        raise EnvelopeError("float_not_allowed", "numbers must be integers", where=where)
    if kind not in (dict, list):
        raise EnvelopeError("wrong_type", f"{kind.__name__} is not a JSON value", where=where)
    if depth >= MAX_DEPTH:
        raise EnvelopeError("nesting_too_deep", f"more than {MAX_DEPTH} nested objects and arrays", where=where)
    if kind is list:
        return [_copy_value(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(cast("list[object]", value))]
    copied: dict[str, object] = {}
    for key, item in cast("dict[object, object]", value).items():
        if type(key) is not str:
            raise EnvelopeError("wrong_type", "object keys are strings", where=where)
        _check_text(key, where)
        copied[key] = _copy_value(item, child(where, key), depth + 1)
    return copied


def _check_text(text: str, where: str) -> None:
    try:
        check_unicode(text, where)
    except JSONInputError as exc:
        raise EnvelopeError(exc.code, exc.message, where=where) from None


def check_form(env: Envelope) -> MessageType:
    """Receiver steps 1-3: version spoken, type known, body and channel presence fit the type.

    Raises:
        RemoteProtocolError: ``unsupported_version``.
        BodyError: ``unknown_type`` or a body schema code.
        EnvelopeError: ``channel_mismatch``.
    """
    if type(env.v) is not int or env.v not in SUPPORTED_VERSIONS:  # True == 1 must not pass
        raise RemoteProtocolError("unsupported_version", f"envelope version {env.v} is not spoken here", where="v")
    mt = message_type(env.type)
    validate_body(env.type, env.body)
    if mt.channel and env.channel is None:
        raise EnvelopeError("channel_mismatch", f"{env.type} travels in a channel", where="channel")
    if not mt.channel and env.channel is not None:
        raise EnvelopeError("channel_mismatch", f"{env.type} is a direct message", where="channel")
    return mt


def make_envelope(
    type: str,
    from_: str,
    to: str,
    created: str | datetime,
    body: dict[str, Any],
    id: str,
    channel: ChannelRef | None = None,
) -> Envelope:
    """Build an unsigned envelope to send, checking it as a receiver would.

    Args:
        created: a wire timestamp or an aware datetime (fractions are dropped).
        id: the envelope id, chosen by the caller (1-64 of [A-Za-z0-9_-]).

    Raises:
        LocalProtocolError: with the code a receiver would have answered
            (e.g. ``missing_field`` with ``where="body.amount"``).
    """
    if isinstance(created, datetime):
        created = format_time(created)
    data: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": id, "type": type, "from": from_, "to": to}
    data.update(created=created, body=body)
    if channel is not None:
        data["channel"] = {"seq": channel.seq, "prev": channel.prev}
    try:
        env = Envelope.from_dict(data)
        check_form(env)
    except RemoteProtocolError as exc:
        # Had we sent it, the receiver would have refused it: the fault is ours.
        raise LocalProtocolError(exc.code, exc.message, where=exc.where) from None
    return env
