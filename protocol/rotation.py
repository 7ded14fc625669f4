"""Key rotation: the new key proves possession, and a rotation must be able to take effect.

A `key_rotation` entry is signed by the key it retires and carries `new_key_proof`, the
new key's signature over the key-proof input below. The proof binds the new key to the
announcing node and to the key it replaces, so no node can announce another node's key
(known or about to be announced) as its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from .canonical import canonical_json
from .encoding import b64url_decode, b64url_encode
from .envelope import Envelope
from .errors import RemoteProtocolError
from .keyring import KeyInfo, Keyring
from .keys import PublicKey, SigningKey
from .timefmt import parse_time

PROOF_CONTEXT = "sifnet-key-proof-v1"


def key_proof_input(node_id: str, old_kid: str, new_kid: str) -> bytes:
    """The bytes the new key signs: canonical JSON naming the context, the node and both key ids."""
    return canonical_json({"context": PROOF_CONTEXT, "new_kid": new_kid, "node": node_id, "old_kid": old_kid})


def sign_key_proof(new_key: SigningKey, node_id: str, old_kid: str) -> str:
    """The `new_key_proof` of a rotation from ``old_kid`` to ``new_key`` by ``node_id``."""
    return b64url_encode(new_key.sign(key_proof_input(node_id, old_kid, new_key.key_id)))


def apply_rotation(env: Envelope, keyring: Keyring) -> Keyring:
    """Check a key_rotation whose signature already verified; return the keyring with its effect.

    The receiver's keyring must hold every key it knows of any node (its own, its peers',
    its directory's), so that a key of another node is recognised as such.

    Raises:
        RemoteProtocolError: ``bad_rotation`` (not signed by ``old_kid``, the same key twice,
            ``old_not_after`` not after ``created``), ``key_claimed`` (the new key is already
            known, of any node) or ``bad_key_proof`` (the proof does not verify).
    """
    body = env.body
    old_kid, new_kid = body["old_kid"], body["new_kid"]
    created = parse_time(env.created, where="created")
    old_not_after = parse_time(body["old_not_after"], where="body.old_not_after")
    if env.sig is None or env.sig.kid != old_kid:
        raise RemoteProtocolError("bad_rotation", "a rotation is signed by the key it retires", where="body.old_kid")
    if new_kid == old_kid:
        raise RemoteProtocolError("bad_rotation", "the new key is the old one", where="body.new_kid")
    if old_not_after <= created:
        raise RemoteProtocolError(
            "bad_rotation", "old_not_after must be later than the rotation's created", where="body.old_not_after"
        )
    known = keyring.get(new_kid)
    if known is not None:
        whose = "the sender's" if known.node_id == env.from_ else f"a key of {known.node_id}"
        raise RemoteProtocolError(
            "key_claimed", f"key {new_kid} is already known here as {whose}", where="body.new_kid"
        )
    new_public = PublicKey.from_b64(body["new_public"])
    proof = b64url_decode(body["new_key_proof"])
    if not new_public.verify(proof, key_proof_input(env.from_, old_kid, new_kid)):
        raise RemoteProtocolError("bad_key_proof", "the new key did not sign this rotation", where="body.new_key_proof")
    old = keyring[old_kid]
    others = [info for kid, info in keyring.items() if kid != old_kid]
    retired = KeyInfo(old.node_id, old.public_key, old.not_before, old_not_after)
    return Keyring.of(*others, retired, KeyInfo(env.from_, new_public, created, None))


def keys_before(entries: Sequence[Envelope], keyring: Keyring) -> Keyring:
    """The keyring as it stood before ``entries``: to check a stored chain again from its start.

    A receiver's keyring after a chain holds the keys its rotations announced and the end dates
    they set; ``check_chain`` learns both again, so they are taken out here (an announced key
    still in the keyring would be ``key_claimed``).
    """
    rotations = [env.body for env in entries if env.type == "key_rotation"]
    learned, retired = {r["new_kid"] for r in rotations}, {r["old_kid"] for r in rotations}
    return Keyring.of(
        *(
            KeyInfo(info.node_id, info.public_key, info.not_before, None if kid in retired else info.not_after)
            for kid, info in keyring.items()
            if kid not in learned
        )
    )
