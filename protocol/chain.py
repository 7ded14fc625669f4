"""Channel hash chains: one direction between two peers, entries numbered from 1."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from .canonical import canonical_json
from .encoding import b64url_encode
from .envelope import Envelope, check_form
from .errors import ChainError, LocalProtocolError, RemoteProtocolError
from .keyring import Keyring
from .rotation import apply_rotation
from .signing import check_signature, envelope_hash
from .timefmt import parse_time

# The hash of a channel entry is the hash of the whole signed envelope.
entry_hash = envelope_hash


def genesis_hash(from_: str, to: str) -> str:
    """The ``prev`` of entry 1 of the channel from ``from_`` to ``to``.

    It is b64url-nopad(sha256(canonical_json({"channel": [from_, to], "genesis": true}))),
    distinct per direction, so an entry cannot be replayed into another channel.
    """
    data = canonical_json({"channel": [from_, to], "genesis": True})
    return b64url_encode(hashlib.sha256(data).digest())


@dataclass(frozen=True)
class ChainReport:
    """What a successful ``check_chain`` saw; ``last_seq``, ``last_hash``, ``keyring`` and ``retired`` resume it."""

    count: int
    first_seq: int | None
    last_seq: int
    last_hash: str
    hashes: tuple[str, ...]
    keyring: Keyring
    retired: frozenset[str]


def check_chain(
    entries: Sequence[Envelope],
    *,
    sender: str,
    receiver: str,
    keyring: Keyring,
    after_seq: int = 0,
    after_hash: str | None = None,
    retired: frozenset[str] = frozenset(),
) -> ChainReport:
    """Check that ``entries`` continue the channel from ``sender`` to ``receiver``.

    Each entry in turn must carry ``channel``, come from ``sender`` to
    ``receiver``, have seq one more than the entry before, have prev equal to
    that entry's hash, pass receiver steps 1-3 (version, type, body), and be
    validly signed by a key of ``sender`` that was valid at the entry's
    ``created`` and that no earlier ``key_rotation`` of the channel retired.
    No acceptance window applies: old entries stay verifiable for ever. A
    ``key_rotation`` entry must be able to take effect (``apply_rotation``);
    the entries after it are checked with the keyring it leaves.

    Args:
        keyring: every key the receiver knows, of any node (so that a rotation
            to another node's key is recognised).
        after_seq: seq of the last entry already accepted (0 for a new channel).
        after_hash: that entry's hash; None means the genesis hash, and only
            goes with ``after_seq=0``.
        retired: ids of the sender's keys that rotations already accepted on
            this channel retired.

    Raises:
        ChainError: at the first bad entry, with ``index`` (position in
            ``entries``), ``seq`` and ``where`` ("entry seq 3"). Its code is
            ``not_a_channel_entry``, ``wrong_sender``, ``wrong_receiver``,
            ``seq_duplicate``, ``seq_gap``, ``prev_mismatch``, or the code of
            the failing receiver step (``unknown_type``, a body code,
            ``bad_signature``, ``unknown_key``, ``key_not_of_sender``,
            ``key_expired``, ...), ``key_retired``, or a rotation's code
            (``bad_rotation``, ``key_claimed``, ``bad_key_proof``); the inner
            JSON path is in the message.
        LocalProtocolError: ``bad_argument`` for an after_seq without after_hash.
    """
    if after_hash is None:
        if after_seq != 0:
            raise LocalProtocolError("bad_argument", "after_seq > 0 needs the hash of that entry")
        after_hash = genesis_hash(sender, receiver)
    seq, prev, hashes = after_seq, after_hash, []
    for index, env in enumerate(entries):
        prev = _check_entry(env, index, seq + 1, prev, sender, receiver, keyring, retired)
        seq = env.channel.seq  # type: ignore[union-attr]
        hashes.append(prev)
        if env.type == "key_rotation":
            try:
                keyring = apply_rotation(env, keyring)
            except RemoteProtocolError as exc:
                raise ChainError(exc.code, f"{exc.message} (at {exc.where})", index=index, seq=seq) from exc
            retired = retired | {env.body["old_kid"]}
    first = entries[0].channel.seq if entries else None  # type: ignore[union-attr]
    return ChainReport(len(hashes), first, seq, prev, tuple(hashes), keyring, retired)


def _check_entry(
    env: Envelope,
    index: int,
    expected_seq: int,
    prev: str,
    sender: str,
    receiver: str,
    keyring: Keyring,
    retired: frozenset[str],
) -> str:
    """Check one entry against its predecessor and return its hash."""
    ref = env.channel
    if ref is None:
        raise ChainError("not_a_channel_entry", "the envelope has no channel member", index=index, seq=None)

    def fail(code: str, message: str) -> ChainError:
        return ChainError(code, message, index=index, seq=ref.seq)

    if env.from_ != sender:
        raise fail("wrong_sender", f"from {env.from_!r}, the channel's sender is {sender!r}")
    if env.to != receiver:
        raise fail("wrong_receiver", f"to {env.to!r}, the channel's receiver is {receiver!r}")
    if ref.seq < expected_seq:
        raise fail("seq_duplicate", f"seq {ref.seq} was already used; expected {expected_seq}")
    if ref.seq > expected_seq:
        raise fail("seq_gap", f"expected seq {expected_seq}, got {ref.seq}")
    if ref.prev != prev:
        raise fail("prev_mismatch", f"prev is not the hash of entry {expected_seq - 1}")
    try:
        check_form(env)
        check_signature(env, keyring, parse_time(env.created, where="created"))
    except RemoteProtocolError as exc:
        inner = f" (at {exc.where})" if exc.where else ""
        raise fail(exc.code, exc.message + inner) from exc
    if env.sig.kid in retired:  # type: ignore[union-attr]
        raise fail("key_retired", f"key {env.sig.kid} was retired by an earlier key_rotation of this channel")  # type: ignore[union-attr]
    return entry_hash(env)
